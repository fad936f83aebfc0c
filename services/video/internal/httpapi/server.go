// Package httpapi is the video service's public REST API (see
// docs/architecture.md). It decodes requests, calls domain.Service and
// encodes the answers; failures are apperr errors that httpx.WriteError
// turns into problem+json.
package httpapi

import (
	_ "embed"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/vidstream/vidstream/services/internal/auth"
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
	Auth auth.Authenticator
}

// NewServer adds the REST API to base, a router with the shared middleware
// and ops routes (service.NewRouter), and returns it as an http.Handler.
func NewServer(base chi.Router, d Deps) http.Handler {
	return routes(base, d, &handlers{svc: d.Service})
}
