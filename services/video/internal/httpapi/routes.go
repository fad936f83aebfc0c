package httpapi

import (
	"github.com/go-chi/chi/v5"

	"github.com/vidstream/vidstream/services/internal/auth"
)

// routes is the whole REST surface of the video service in one place; the
// OpenAPI test checks openapi.json against it. r already serves the ops
// routes every service has: /healthz, /readyz, /metrics, /openapi.json.
func routes(r chi.Router, d Deps, h *handlers) chi.Router {
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
