package httpx_test

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"testing"

	"github.com/vidstream/vidstream/services/internal/apperr"
	"github.com/vidstream/vidstream/services/internal/httpx"
)

// pgError stands in for pgconn.PgError, which has SQLState.
type pgError string

func (e pgError) Error() string    { return "postgres: " + string(e) }
func (e pgError) SQLState() string { return string(e) }

// A dependency that cannot be reached (the database restarting) is 503
// with Retry-After, not 500; the domain's own kinds and real bugs are not.
func TestUnreachableDependencyIs503(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
	for name, tt := range map[string]struct {
		err        error
		status     int
		retryAfter string
	}{
		"connection refused":       {fmt.Errorf("list videos: %w", refused), http.StatusServiceUnavailable, "1"},
		"server shutting down":     {fmt.Errorf("insert: %w", pgError("57P01")), http.StatusServiceUnavailable, "1"},
		"connection exception":     {pgError("08006"), http.StatusServiceUnavailable, "1"},
		"unique violation (a bug)": {pgError("23505"), http.StatusInternalServerError, ""},
		"plain error":              {errors.New("boom"), http.StatusInternalServerError, ""},
		"domain kind wins":         {&apperr.Error{Kind: apperr.NotFound, Message: "no", Err: refused}, http.StatusNotFound, ""},
	} {
		t.Run(name, func(t *testing.T) {
			srv := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { httpx.WriteError(w, r, tt.err) }))
			resp := do(t, srv, request{method: http.MethodGet, path: "/"})
			if resp.StatusCode != tt.status || resp.Header.Get("Retry-After") != tt.retryAfter {
				t.Fatalf("status %d Retry-After %q, want %d %q: %s", resp.StatusCode, resp.Header.Get("Retry-After"), tt.status, tt.retryAfter, resp.body)
			}
		})
	}
}
