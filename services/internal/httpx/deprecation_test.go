package httpx_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/vidstream/vidstream/services/internal/apperr"
	"github.com/vidstream/vidstream/services/internal/httpx"
)

func TestDeprecatedMarksEveryResponseOfItsRoutesOnly(t *testing.T) {
	since := time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)
	sunset := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	r := chi.NewRouter()
	old := r.With(httpx.Deprecated(httpx.Deprecation{Since: since, Sunset: sunset, Link: "https://example.com/migrate"}))
	old.Get("/v1/old", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	old.Get("/v1/old-failing", func(w http.ResponseWriter, req *http.Request) {
		httpx.WriteError(w, req, &apperr.Error{Kind: apperr.NotFound, Message: "gone"})
	})
	r.Get("/v1/new", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	srv := serve(t, r)

	for _, path := range []string{"/v1/old", "/v1/old-failing"} {
		resp := do(t, srv, request{method: http.MethodGet, path: path})
		if got := resp.Header.Get("Deprecation"); got != "@1782864000" {
			t.Errorf("%s: Deprecation = %q, want @1782864000 (RFC 9745)", path, got)
		}
		if got := resp.Header.Get("Sunset"); got != "Fri, 01 Jan 2027 00:00:00 GMT" {
			t.Errorf("%s: Sunset = %q, want the HTTP-date (RFC 8594)", path, got)
		}
		if got := resp.Header.Get("Link"); got != `<https://example.com/migrate>; rel="deprecation"` {
			t.Errorf("%s: Link = %q", path, got)
		}
	}
	resp := do(t, srv, request{method: http.MethodGet, path: "/v1/new"})
	for _, h := range []string{"Deprecation", "Sunset", "Link"} {
		if v := resp.Header.Get(h); v != "" {
			t.Errorf("/v1/new: %s = %q, want none", h, v)
		}
	}
}

func TestDeprecatedWithoutSunset(t *testing.T) {
	r := chi.NewRouter()
	r.With(httpx.Deprecated(httpx.Deprecation{Since: time.Unix(1700000000, 0)})).
		Get("/v1/old", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	resp := do(t, serve(t, r), request{method: http.MethodGet, path: "/v1/old"})
	if got := resp.Header.Get("Deprecation"); got != "@1700000000" {
		t.Errorf("Deprecation = %q", got)
	}
	if _, ok := resp.Header["Sunset"]; ok {
		t.Error("Sunset sent without a date")
	}
}
