// Package grpcapi exposes the user domain to other services over gRPC
// (vidstream.user.v1.UserService). It only translates messages: every rule
// lives in domain.Service, and errors stay apperr errors that the grpcx
// interceptor turns into status codes.
package grpcapi

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"

	userv1 "github.com/vidstream/vidstream/services/api/user/v1"
	"github.com/vidstream/vidstream/services/internal/ids"
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
	id, err := ids.Parse("id", req.GetId())
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
	batch, err := ids.ParseBatch("ids", req.GetIds(), domain.MaxBatchGetUsers)
	if err != nil {
		return nil, err
	}
	found, missing, err := s.svc.BatchGetUsers(ctx, batch)
	if err != nil {
		return nil, err
	}
	resp := &userv1.BatchGetUsersResponse{
		Users:      make([]*userv1.User, len(found)),
		MissingIds: ids.Strings(missing),
	}
	for i, u := range found {
		resp.Users[i] = toProto(u)
	}
	return resp, nil
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
