package auth

import (
	"net/http"

	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/vidstream/vidstream/services/internal/httpx"
)

// Middleware authenticates every request with a's verdict on its bearer
// token and puts the Principal in the request context. A missing or malformed
// Authorization header or a rejected token is answered 401, an unavailable
// authenticator 503, both as problem+json through httpx.WriteError.
func Middleware(a Authenticator) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			token, err := httpx.BearerToken(r)
			if err != nil {
				httpx.WriteError(w, r, err)
				return
			}
			p, err := a.Authenticate(r.Context(), token)
			if err != nil {
				httpx.WriteError(w, r, err)
				return
			}
			// The user id (never the token) on the span lets one find every
			// trace of a user reporting a problem.
			trace.SpanFromContext(r.Context()).SetAttributes(semconv.UserID(p.UserID.String()))
			next.ServeHTTP(w, r.WithContext(WithPrincipal(r.Context(), p)))
		})
	}
}
