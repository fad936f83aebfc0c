// Package httpapi is the video service's public REST API (DESIGN §4). It
// decodes requests, calls domain.Service and encodes the answers; failures
// are apperr errors that httpx.WriteError turns into problem+json.
package httpapi

import (
	_ "embed"
	"net/http"

	"github.com/vidstream/vidstream/services/internal/auth"
	"github.com/vidstream/vidstream/services/internal/httpx"
	"github.com/vidstream/vidstream/services/internal/telemetry"
	"github.com/vidstream/vidstream/services/video/internal/domain"
)

// OpenAPI is the REST contract served at GET /openapi.json; a test keeps it
// and the router in step. It lives next to the routes (not at the service
// root) because go:embed cannot reach outside the embedding package's
// directory, and the root holds package main.
//
//go:embed openapi.json
var OpenAPI []byte

// Deps is what the REST API needs.
type Deps struct {
	Service *domain.Service
	// Auth resolves bearer tokens; in production it asks the user service
	// over gRPC on every request.
	Auth      auth.Authenticator
	Providers telemetry.Providers
	// Health backs /healthz and /readyz; the caller registers checks and
	// flips readiness.
	Health *httpx.Health
}

// NewServer returns the REST API as an http.Handler.
func NewServer(d Deps) http.Handler {
	if d.Health == nil {
		d.Health = &httpx.Health{}
	}
	return routes(d, &handlers{svc: d.Service})
}
