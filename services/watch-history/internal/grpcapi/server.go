// Package grpcapi exposes watch history to other services over gRPC
// (vidstream.history.v1.WatchHistoryService). It only translates messages:
// every rule lives in domain.Service, and errors stay apperr errors that the
// grpcx interceptor turns into status codes.
//
// The caller names the user in the request: this is an east-west API for
// services inside the mesh, which is trusted to authenticate its peers.
package grpcapi

import (
	"context"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"

	historyv1 "github.com/vidstream/vidstream/services/api/history/v1"
	"github.com/vidstream/vidstream/services/internal/apperr"
	"github.com/vidstream/vidstream/services/internal/ids"
	"github.com/vidstream/vidstream/services/watch-history/internal/domain"
)

// Server implements historyv1.WatchHistoryServiceServer.
type Server struct {
	historyv1.UnimplementedWatchHistoryServiceServer
	svc *domain.Service
}

// Register adds the WatchHistoryService backed by svc to s.
func Register(s grpc.ServiceRegistrar, svc *domain.Service) {
	historyv1.RegisterWatchHistoryServiceServer(s, &Server{svc: svc})
}

// ListHistory returns one page of a user's history, most recently updated
// first: INVALID_ARGUMENT for a malformed user_id or page_token or a
// page_size outside 0..100.
func (s *Server) ListHistory(ctx context.Context, req *historyv1.ListHistoryRequest) (*historyv1.ListHistoryResponse, error) {
	userID, err := ids.Parse("user_id", req.GetUserId())
	if err != nil {
		return nil, err
	}
	size := int(req.GetPageSize())
	if size < 0 || size > domain.MaxPageSize {
		return nil, apperr.InvalidField("page_size", fmt.Sprintf("must be between 0 (default %d) and %d", domain.DefaultPageSize, domain.MaxPageSize))
	}
	q := domain.ListQuery{Limit: size}
	if token := req.GetPageToken(); token != "" {
		c, err := domain.DecodeCursor(token)
		if err != nil {
			return nil, invalid("page_token", "malformed; pass next_page_token from a previous response unchanged", err)
		}
		q.After = &c
	}
	page, err := s.svc.List(ctx, userID, q)
	if err != nil {
		return nil, err
	}
	resp := &historyv1.ListHistoryResponse{Entries: make([]*historyv1.HistoryEntry, len(page.Items))}
	for i, e := range page.Items {
		resp.Entries[i] = toProto(e)
	}
	if page.Next != nil {
		resp.NextPageToken = page.Next.Encode()
	}
	return resp, nil
}

func toProto(e domain.Entry) *historyv1.HistoryEntry {
	return &historyv1.HistoryEntry{
		VideoId:         e.VideoID.String(),
		Title:           e.Title,
		PositionSeconds: int32(e.PositionSeconds), // bounded by the duration, an int32 on every wire
		DurationSeconds: int32(e.DurationSeconds), // came from an int32 on the wire
		Completed:       e.Completed(),
		UpdatedAt:       timestamppb.New(e.UpdatedAt),
	}
}

func invalid(field, detail string, cause error) error {
	e := apperr.InvalidField(field, detail)
	e.Err = cause
	return e
}
