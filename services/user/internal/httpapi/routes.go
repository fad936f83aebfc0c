package httpapi

import (
	"github.com/go-chi/chi/v5"

	"github.com/vidstream/vidstream/services/internal/auth"
)

// routes is the whole REST surface of the user service in one place; the
// OpenAPI test checks openapi.json against it. r already serves the ops
// routes every service has: /healthz, /readyz, /metrics, /openapi.json.
func routes(r chi.Router, h *handlers) chi.Router {
	r.Route("/v1", func(r chi.Router) {
		r.Post("/users", h.createUser)
		r.Get("/users/{id}", h.getUser)
		r.Post("/sessions", h.createSession)

		r.Group(func(r chi.Router) {
			r.Use(auth.Middleware(h.authenticator()))
			r.Get("/users/me", h.getMe)
			r.Delete("/users/me", h.deleteMe)
			r.Delete("/sessions/current", h.deleteCurrentSession)
		})
	})
	return r
}
