package auth

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	userv1 "github.com/vidstream/vidstream/services/api/user/v1"
	"github.com/vidstream/vidstream/services/internal/apperr"
	"github.com/vidstream/vidstream/services/internal/grpcx"
)

// NewGRPCAuthenticator asks the user service, through client, about every
// token.
//
// There is deliberately no cache. Logout deletes the session in the user
// service, and the contract is that it takes effect everywhere at once: a
// cache in front of this call, even a short one, would keep a revoked token
// working on other services until entries expire. The call is one indexed
// lookup on the user service; when that becomes too slow the answer is
// revocation events, not a cache that ignores them.
func NewGRPCAuthenticator(client userv1.UserServiceClient) Authenticator {
	return grpcAuthenticator{client: client}
}

type grpcAuthenticator struct {
	client userv1.UserServiceClient
}

func (a grpcAuthenticator) Authenticate(ctx context.Context, token string) (Principal, error) {
	if token == "" {
		// Saves a round trip the user service would answer the same way.
		return Principal{}, apperr.New(apperr.Unauthenticated, "missing bearer token")
	}
	resp, err := a.client.AuthenticateToken(ctx, &userv1.AuthenticateTokenRequest{Token: token})
	if err != nil {
		return Principal{}, fromStatus(err)
	}
	userID, err := uuid.Parse(resp.GetUserId())
	if err != nil {
		// The user service broke its contract; not the caller's fault.
		return Principal{}, &apperr.Error{Kind: apperr.Internal, Message: "authenticate token",
			Err: fmt.Errorf("user service returned malformed user id %q: %w", resp.GetUserId(), err)}
	}
	p := Principal{UserID: userID, Token: token}
	if ts := resp.GetExpiresAt(); ts != nil {
		p.ExpiresAt = ts.AsTime()
	}
	return p, nil
}

// fromStatus maps the user service's answer to apperr. It is narrower than a
// generic gRPC mapping: INVALID_ARGUMENT here means the token was
// syntactically bad, which for the caller is the same as a wrong token.
func fromStatus(err error) error {
	st, _ := status.FromError(err)
	wrapped := fmt.Errorf("authenticate token: %w", err)
	switch st.Code() {
	case codes.Unauthenticated, codes.InvalidArgument:
		return &apperr.Error{Kind: apperr.Unauthenticated, Message: "invalid or expired token", Err: wrapped}
	case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled, codes.ResourceExhausted:
		return &apperr.Error{Kind: apperr.Unavailable, Message: "authentication is temporarily unavailable", Err: wrapped,
			RetryAfterSeconds: max(grpcx.RetryAfterSeconds(err), 1)}
	default:
		return &apperr.Error{Kind: apperr.Internal, Message: "authenticate token", Err: wrapped}
	}
}
