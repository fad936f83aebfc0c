package httpx_test

import (
	"net/http"
	"testing"

	"github.com/vidstream/vidstream/services/internal/httpx"
	"github.com/vidstream/vidstream/services/internal/telemetry"
)

func TestServeOpenAPI(t *testing.T) {
	spec := []byte(`{"openapi":"3.1.0","info":{"title":"t","version":"1"},"paths":{}}`)
	r := httpx.NewRouter(telemetry.Noop(), "test")
	r.Get("/openapi.json", httpx.ServeOpenAPI(spec))
	srv := serve(t, r)

	resp := do(t, srv, request{path: "/openapi.json"})
	if resp.StatusCode != http.StatusOK || string(resp.body) != string(spec) {
		t.Fatalf("GET /openapi.json = %d %s", resp.StatusCode, resp.body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	etag := resp.Header.Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	again := do(t, srv, request{path: "/openapi.json", headers: map[string]string{"If-None-Match": etag}})
	if again.StatusCode != http.StatusNotModified || len(again.body) != 0 {
		t.Errorf("revalidation = %d %q, want 304 with no body", again.StatusCode, again.body)
	}
}
