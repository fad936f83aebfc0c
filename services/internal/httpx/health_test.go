package httpx_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/vidstream/vidstream/services/internal/httpx"
	"github.com/vidstream/vidstream/services/internal/telemetry"
)

func TestHealth(t *testing.T) {
	var h httpx.Health
	var dbUp atomic.Bool
	dbUp.Store(true)
	h.AddCheck("database", func(ctx context.Context) error {
		if _, ok := ctx.Deadline(); !ok {
			t.Error("check ran without a deadline")
		}
		if !dbUp.Load() {
			return errors.New("dial tcp db.internal:5432: connection refused")
		}
		return nil
	})
	r := httpx.NewRouter(telemetry.Noop(), "test")
	r.Get("/healthz", h.Liveness())
	r.Get("/readyz", h.Readiness())
	srv := serve(t, r)

	check := func(path string, want int, wantBody string) {
		t.Helper()
		resp := do(t, srv, request{path: path})
		if resp.StatusCode != want || string(resp.body) != wantBody+"\n" {
			t.Errorf("GET %s = %d %s, want %d %s", path, resp.StatusCode, resp.body, want, wantBody)
		}
	}
	check("/healthz", 200, `{"status":"ok"}`)
	check("/readyz", 503, `{"status":"unavailable"}`) // not ready until told

	h.SetReady(true)
	check("/readyz", 200, `{"status":"ok","checks":{"database":"ok"}}`)

	dbUp.Store(false)
	// The check's error text stays out of the unauthenticated response.
	check("/readyz", 503, `{"status":"unavailable","checks":{"database":"failing"}}`)
	check("/healthz", 200, `{"status":"ok"}`) // a dependency outage is no reason to restart

	dbUp.Store(true)
	h.SetReady(false) // shutdown begins
	check("/readyz", 503, `{"status":"unavailable"}`)
}
