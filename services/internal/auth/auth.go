// Package auth authenticates REST requests by bearer token and carries the
// authenticated principal in the request context.
//
// The user service owns sessions; every other service asks it, over gRPC,
// on every request (see NewGRPCAuthenticator). The user service itself plugs
// its own domain in through AuthenticatorFunc.
package auth

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/vidstream/vidstream/services/internal/apperr"
)

// Principal is who a request acts for.
type Principal struct {
	UserID    uuid.UUID
	ExpiresAt time.Time
	// Token is the credential the request presented, kept so that a logout
	// handler can revoke exactly this session.
	Token string
}

// Authenticator resolves a bearer token to its principal. Errors are apperr
// errors: Unauthenticated for an unknown, expired or revoked token,
// Unavailable when the answer cannot be had right now.
type Authenticator interface {
	Authenticate(ctx context.Context, token string) (Principal, error)
}

// AuthenticatorFunc adapts a function to Authenticator.
type AuthenticatorFunc func(ctx context.Context, token string) (Principal, error)

// Authenticate calls f.
func (f AuthenticatorFunc) Authenticate(ctx context.Context, token string) (Principal, error) {
	return f(ctx, token)
}

type principalKey struct{}

// WithPrincipal returns ctx carrying p. Middleware uses it; so can tests of
// handlers that sit behind the middleware.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the principal the middleware authenticated.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// Require returns the principal or an Unauthenticated error. A handler
// mounted without the middleware by mistake thus fails closed with a 401
// instead of acting for nobody.
func Require(ctx context.Context) (Principal, error) {
	p, ok := FromContext(ctx)
	if !ok {
		return Principal{}, apperr.New(apperr.Unauthenticated, "authentication required")
	}
	return p, nil
}
