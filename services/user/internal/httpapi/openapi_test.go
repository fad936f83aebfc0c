package httpapi_test

import (
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/vidstream/vidstream/services/internal/openapitest"
	"github.com/vidstream/vidstream/services/user/internal/httpapi"
)

// The published contract (and the API fuzzer CI runs against it) must be
// the API the router actually serves, in both directions.
func TestOpenAPIMatchesRouter(t *testing.T) {
	routes, ok := newHandler(t).(chi.Routes)
	if !ok {
		t.Fatal("httpapi.NewServer no longer returns a chi router; walk its routes another way")
	}
	openapitest.AssertRoutesDocumented(t, routes, httpapi.OpenAPI)
}
