package httpapi

import (
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/vidstream/vidstream/services/internal/auth"
	"github.com/vidstream/vidstream/services/internal/httpx"
	"github.com/vidstream/vidstream/services/internal/telemetry"
)

// routes is the whole REST surface of the video service in one place; the
// OpenAPI test checks openapi.json against it.
func routes(d Deps, h *handlers) chi.Router {
	r := httpx.NewRouter(d.Providers, "video")

	r.Get("/healthz", d.Health.Liveness())
	r.Get("/readyz", d.Health.Readiness())
	r.Method(http.MethodGet, "/metrics", telemetry.MetricsHandler(d.Providers))
	r.Get("/openapi.json", httpx.ServeOpenAPI(OpenAPI))

	// Flat paths rather than r.Route: chi reports a mounted sub-router's root
	// as "/v1/videos/", and the route pattern names spans and metrics.
	//
	// Reading the catalog is public.
	r.Get("/v1/videos", h.listVideos)
	// A static segment wins over {id} in chi, so "popular" is never parsed
	// as an id.
	r.Get("/v1/videos/popular", h.popularVideos)
	r.Get("/v1/videos/{id}", h.getVideo)

	r.Group(func(r chi.Router) {
		r.Use(auth.Middleware(d.Auth))
		r.Post("/v1/videos", h.createVideo)
		r.Patch("/v1/videos/{id}", h.updateVideo)
		r.Delete("/v1/videos/{id}", h.deleteVideo)
	})
	return r
}
