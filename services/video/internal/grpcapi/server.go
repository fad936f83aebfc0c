// Package grpcapi exposes the video catalog to other services over gRPC
// (vidstream.video.v1.VideoService). It only translates messages: every rule
// lives in domain.Service, and errors stay apperr errors that the grpcx
// interceptor turns into status codes.
package grpcapi

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"

	videov1 "github.com/vidstream/vidstream/services/api/video/v1"
	"github.com/vidstream/vidstream/services/internal/ids"
	"github.com/vidstream/vidstream/services/video/internal/domain"
)

// Server implements videov1.VideoServiceServer.
type Server struct {
	videov1.UnimplementedVideoServiceServer
	svc *domain.Service
}

// Register adds the VideoService backed by svc to s.
func Register(s grpc.ServiceRegistrar, svc *domain.Service) {
	videov1.RegisterVideoServiceServer(s, &Server{svc: svc})
}

// GetVideo returns one video: INVALID_ARGUMENT for a malformed id,
// NOT_FOUND for an unknown one.
func (s *Server) GetVideo(ctx context.Context, req *videov1.GetVideoRequest) (*videov1.GetVideoResponse, error) {
	id, err := ids.Parse("id", req.GetId())
	if err != nil {
		return nil, err
	}
	v, err := s.svc.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	return &videov1.GetVideoResponse{Video: ToProto(v)}, nil
}

// BatchGetVideos returns the videos that exist, in request order, and lists
// the rest in missing_ids; more than domain.MaxBatch ids or a malformed id is
// INVALID_ARGUMENT.
func (s *Server) BatchGetVideos(ctx context.Context, req *videov1.BatchGetVideosRequest) (*videov1.BatchGetVideosResponse, error) {
	batch, err := ids.ParseBatch("ids", req.GetIds(), domain.MaxBatch)
	if err != nil {
		return nil, err
	}
	found, missing, err := s.svc.BatchGet(ctx, batch)
	if err != nil {
		return nil, err
	}
	resp := &videov1.BatchGetVideosResponse{
		Videos:     make([]*videov1.Video, len(found)),
		MissingIds: ids.Strings(missing),
	}
	for i, v := range found {
		resp.Videos[i] = ToProto(v)
	}
	return resp, nil
}

// CompleteTranscode records a transcoder's outcome (domain.Service.
// CompleteTranscode): INVALID_ARGUMENT for a malformed id or result,
// NOT_FOUND for an unknown video, OK with changed false for a video that
// had already finished.
func (s *Server) CompleteTranscode(ctx context.Context, req *videov1.CompleteTranscodeRequest) (*videov1.CompleteTranscodeResponse, error) {
	id, err := ids.Parse("video_id", req.GetVideoId())
	if err != nil {
		return nil, err
	}
	v, changed, err := s.svc.CompleteTranscode(ctx, domain.TranscodeResult{
		VideoID: id,
		JobID:   req.GetJobId(),
		Outcome: outcomeFromProto(req.GetOutcome()),
		Reason:  req.GetReason(),
	})
	if err != nil {
		return nil, err
	}
	return &videov1.CompleteTranscodeResponse{Video: ToProto(v), Changed: changed}, nil
}

// outcomeFromProto maps the wire outcome to the status it leads to; an
// unspecified or unknown one maps to "", which the domain rejects.
func outcomeFromProto(o videov1.TranscodeOutcome) domain.Status {
	switch o {
	case videov1.TranscodeOutcome_TRANSCODE_OUTCOME_READY:
		return domain.StatusReady
	case videov1.TranscodeOutcome_TRANSCODE_OUTCOME_FAILED:
		return domain.StatusFailed
	default:
		return ""
	}
}

// ToProto converts a domain video to its wire form.
func ToProto(v domain.Video) *videov1.Video {
	out := &videov1.Video{
		Id:              v.ID.String(),
		Title:           v.Title,
		Description:     v.Description,
		Kind:            kindToProto(v.Kind),
		DurationSeconds: int32(v.DurationSeconds), // validated: at most domain.MaxDurationSeconds
		SeriesTitle:     v.SeriesTitle,
		Season:          int32Ptr(v.Season),
		Episode:         int32Ptr(v.Episode),
		ReleaseYear:     int32Ptr(v.ReleaseYear),
		OwnerId:         v.OwnerID.String(),
		Status:          statusToProto(v.Status),
		ViewCount:       v.ViewCount,
		CreatedAt:       timestamppb.New(v.CreatedAt),
		UpdatedAt:       timestamppb.New(v.UpdatedAt),
	}
	return out
}

// int32Ptr narrows an optional field; domain validation bounds every one of
// them (season, episode, release year) far below the int32 range.
func int32Ptr(p *int) *int32 {
	if p == nil {
		return nil
	}
	n := int32(*p)
	return &n
}

func kindToProto(k domain.Kind) videov1.VideoKind {
	switch k {
	case domain.KindMovie:
		return videov1.VideoKind_VIDEO_KIND_MOVIE
	case domain.KindEpisode:
		return videov1.VideoKind_VIDEO_KIND_EPISODE
	default:
		return videov1.VideoKind_VIDEO_KIND_UNSPECIFIED
	}
}

func statusToProto(s domain.Status) videov1.VideoStatus {
	switch s {
	case domain.StatusReady:
		return videov1.VideoStatus_VIDEO_STATUS_READY
	case domain.StatusProcessing:
		return videov1.VideoStatus_VIDEO_STATUS_PROCESSING
	case domain.StatusFailed:
		return videov1.VideoStatus_VIDEO_STATUS_FAILED
	default:
		return videov1.VideoStatus_VIDEO_STATUS_UNSPECIFIED
	}
}
