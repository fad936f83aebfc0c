package httpx

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Health serves the liveness and readiness probes.
//
// Liveness answers "should this process be restarted?": it only proves the
// server goroutines run, and never looks at dependencies, or a database
// outage would make Kubernetes restart every replica for nothing.
// Readiness answers "should traffic come here?": it is false until the
// process calls SetReady(true), false again once shutdown starts (so the load
// balancer stops sending before the server stops accepting), and false while
// a registered check fails.
//
// The zero value is usable and not ready.
type Health struct {
	ready atomic.Bool

	mu     sync.Mutex
	checks []namedCheck
}

type namedCheck struct {
	name  string
	check func(context.Context) error
}

// CheckTimeout bounds each readiness check, below the usual probe timeout
// so a hanging dependency turns into "not ready" rather than a probe timeout.
const CheckTimeout = 2 * time.Second

// SetReady sets whether the process wants traffic.
func (h *Health) SetReady(ready bool) { h.ready.Store(ready) }

// AddCheck registers a readiness check, such as a database ping.
func (h *Health) AddCheck(name string, check func(context.Context) error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.checks = append(h.checks, namedCheck{name: name, check: check})
}

// HealthStatus is the body of both probes.
type HealthStatus struct {
	Status string            `json:"status"` // "ok" or "unavailable"
	Checks map[string]string `json:"checks,omitempty"`
}

// Liveness is the /healthz handler.
func (h *Health) Liveness() http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		WriteJSON(w, http.StatusOK, HealthStatus{Status: "ok"})
	}
}

// Readiness is the /readyz handler. Check errors are logged, not returned:
// the endpoint is unauthenticated and error texts can name internal hosts.
func (h *Health) Readiness() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !h.ready.Load() {
			WriteJSON(w, http.StatusServiceUnavailable, HealthStatus{Status: "unavailable"})
			return
		}
		h.mu.Lock()
		checks := append([]namedCheck(nil), h.checks...)
		h.mu.Unlock()

		status := HealthStatus{Status: "ok"}
		code := http.StatusOK
		for _, c := range checks {
			if status.Checks == nil {
				status.Checks = make(map[string]string, len(checks))
			}
			if err := runCheck(r.Context(), c.check); err != nil {
				loggerFrom(r.Context()).LogAttrs(r.Context(), slog.LevelWarn, "readiness check failed",
					slog.String("check", c.name), slog.Any("err", err))
				status.Checks[c.name] = "failing"
				status.Status = "unavailable"
				code = http.StatusServiceUnavailable
				continue
			}
			status.Checks[c.name] = "ok"
		}
		WriteJSON(w, code, status)
	}
}

func runCheck(ctx context.Context, check func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, CheckTimeout)
	defer cancel()
	return check(ctx)
}
