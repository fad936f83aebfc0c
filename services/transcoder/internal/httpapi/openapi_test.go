package httpapi

import (
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/vidstream/vidstream/services/internal/openapitest"
	"github.com/vidstream/vidstream/services/internal/service"
	"github.com/vidstream/vidstream/services/internal/telemetry"
)

func TestOpenAPIMatchesRouter(t *testing.T) {
	routes, ok := NewServer(service.NewRouter("transcoder", telemetry.Noop(), nil, OpenAPI)).(chi.Routes)
	if !ok {
		t.Fatal("NewServer no longer returns a chi router")
	}
	openapitest.AssertRoutesDocumented(t, routes, OpenAPI)
}
