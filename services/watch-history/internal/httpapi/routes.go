package httpapi

import (
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/vidstream/vidstream/services/internal/auth"
	"github.com/vidstream/vidstream/services/internal/httpx"
	"github.com/vidstream/vidstream/services/internal/telemetry"
)

// routes is the whole REST surface of watch history in one place; the
// OpenAPI test checks openapi.json against it.
func routes(d Deps, h *handlers) chi.Router {
	r := httpx.NewRouter(d.Providers, "watch-history")

	r.Get("/healthz", d.Health.Liveness())
	r.Get("/readyz", d.Health.Readiness())
	r.Method(http.MethodGet, "/metrics", telemetry.MetricsHandler(d.Providers))
	r.Get("/openapi.json", httpx.ServeOpenAPI(OpenAPI))

	// A history belongs to whoever the token names, so every route is
	// authenticated and none takes a user id.
	r.Group(func(r chi.Router) {
		r.Use(auth.Middleware(d.Authenticator))
		r.Get("/v1/history", h.listHistory)
		r.Put("/v1/history/{video_id}", h.putProgress)
		r.Delete("/v1/history/{video_id}", h.deleteEntry)
	})
	return r
}
