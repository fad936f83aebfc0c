package httpapi

import (
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/vidstream/vidstream/services/internal/auth"
	"github.com/vidstream/vidstream/services/internal/httpx"
	"github.com/vidstream/vidstream/services/internal/telemetry"
)

// routes is the whole REST surface of the user service in one place; the
// OpenAPI test checks openapi.json against it.
func routes(d Deps, h *handlers) chi.Router {
	r := httpx.NewRouter(d.Providers, "user")

	r.Get("/healthz", d.Health.Liveness())
	r.Get("/readyz", d.Health.Readiness())
	r.Method(http.MethodGet, "/metrics", telemetry.MetricsHandler(d.Providers))
	r.Get("/openapi.json", httpx.ServeOpenAPI(OpenAPI))

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
