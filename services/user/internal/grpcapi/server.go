// Package grpcapi exposes the user domain to other services over gRPC
// (vidstream.user.v1.UserService). It only translates messages: every rule
// lives in domain.Service, and errors stay apperr errors that the grpcx
// interceptor turns into status codes.
package grpcapi

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"

	userv1 "github.com/vidstream/vidstream/services/api/user/v1"
	"github.com/vidstream/vidstream/services/internal/apperr"
	"github.com/vidstream/vidstream/services/user/internal/domain"
)

// Server implements userv1.UserServiceServer.
type Server struct {
	userv1.UnimplementedUserServiceServer
	svc *domain.Service
}

// Register adds the UserService backed by svc to s.
func Register(s grpc.ServiceRegistrar, svc *domain.Service) {
	userv1.RegisterUserServiceServer(s, &Server{svc: svc})
}

// AuthenticateToken resolves a session token: INVALID_ARGUMENT when empty,
// UNAUTHENTICATED when unknown, expired or logged out.
func (s *Server) AuthenticateToken(ctx context.Context, req *userv1.AuthenticateTokenRequest) (*userv1.AuthenticateTokenResponse, error) {
	p, err := s.svc.Authenticate(ctx, req.GetToken())
	if err != nil {
		return nil, err
	}
	return &userv1.AuthenticateTokenResponse{
		UserId:    p.UserID.String(),
		ExpiresAt: timestamppb.New(p.ExpiresAt),
	}, nil
}

// GetUser returns a public profile: INVALID_ARGUMENT for a malformed id,
// NOT_FOUND for an unknown one.
func (s *Server) GetUser(ctx context.Context, req *userv1.GetUserRequest) (*userv1.GetUserResponse, error) {
	id, err := parseID("id", req.GetId())
	if err != nil {
		return nil, err
	}
	u, err := s.svc.GetUser(ctx, id)
	if err != nil {
		return nil, err
	}
	return &userv1.GetUserResponse{User: toProto(u)}, nil
}

// BatchGetUsers returns the profiles that exist and lists the rest in
// missing_ids; more than domain.MaxBatchGetUsers ids is INVALID_ARGUMENT.
func (s *Server) BatchGetUsers(ctx context.Context, req *userv1.BatchGetUsersRequest) (*userv1.BatchGetUsersResponse, error) {
	raw := req.GetIds()
	// Checked before parsing so an oversized request costs no work.
	if len(raw) > domain.MaxBatchGetUsers {
		return nil, apperr.InvalidField("ids", fmt.Sprintf("at most %d ids per call, got %d", domain.MaxBatchGetUsers, len(raw)))
	}
	ids := make([]uuid.UUID, len(raw))
	for i, r := range raw {
		id, err := parseID(fmt.Sprintf("ids[%d]", i), r)
		if err != nil {
			return nil, err
		}
		ids[i] = id
	}
	found, missing, err := s.svc.BatchGetUsers(ctx, ids)
	if err != nil {
		return nil, err
	}
	resp := &userv1.BatchGetUsersResponse{
		Users:      make([]*userv1.User, len(found)),
		MissingIds: make([]string, len(missing)),
	}
	for i, u := range found {
		resp.Users[i] = toProto(u)
	}
	for i, id := range missing {
		resp.MissingIds[i] = id.String()
	}
	return resp, nil
}

// parseID accepts only the canonical hyphenated form, the one the REST API
// and the database use, so one user has one id string everywhere.
func parseID(field, s string) (uuid.UUID, error) {
	id, err := uuid.Parse(s)
	if err != nil || len(s) != 36 {
		return uuid.Nil, apperr.InvalidField(field, "must be a UUID")
	}
	return id, nil
}

// toProto maps to the public profile: the email never crosses a service
// boundary.
func toProto(u domain.User) *userv1.User {
	return &userv1.User{
		Id:          u.ID.String(),
		DisplayName: u.DisplayName,
		CreatedAt:   timestamppb.New(u.CreatedAt),
	}
}
