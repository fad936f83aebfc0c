package httpapi

import (
	"github.com/go-chi/chi/v5"

	"github.com/vidstream/vidstream/services/internal/auth"
)

// routes is the whole REST surface of watch history in one place; the
// OpenAPI test checks openapi.json against it. r already serves the ops
// routes every service has: /healthz, /readyz, /metrics, /openapi.json.
func routes(r chi.Router, d Deps, h *handlers) chi.Router {
	// A history belongs to whoever the token names, so every route is
	// authenticated and none takes a user id.
	r.Group(func(r chi.Router) {
		r.Use(auth.Middleware(d.Auth))
		r.Get("/v1/history", h.listHistory)
		r.Put("/v1/history/{video_id}", h.putProgress)
		r.Delete("/v1/history/{video_id}", h.deleteEntry)
	})
	return r
}
