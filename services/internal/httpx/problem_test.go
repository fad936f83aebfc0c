package httpx_test

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/vidstream/vidstream/services/internal/apperr"
	"github.com/vidstream/vidstream/services/internal/httpx"
	"github.com/vidstream/vidstream/services/internal/telemetry"
	"github.com/vidstream/vidstream/services/internal/telemetry/telemetrytest"
)

func TestWriteErrorMapsKinds(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		status     int
		kind       string
		detail     string
		retryAfter string
	}{
		{"invalid", apperr.InvalidField("email", "must contain @"), 400, "invalid", "invalid email: must contain @", ""},
		{"unauthenticated", apperr.New(apperr.Unauthenticated, "bad token"), 401, "unauthenticated", "bad token", ""},
		{"forbidden", apperr.New(apperr.Forbidden, "not yours"), 403, "forbidden", "not yours", ""},
		{"not found", apperr.New(apperr.NotFound, "video not found"), 404, "not_found", "video not found", ""},
		{"conflict", apperr.New(apperr.Conflict, "email taken"), 409, "conflict", "email taken", ""},
		{"throttled with hint", &apperr.Error{Kind: apperr.TooManyRequests, Message: "slow down", RetryAfterSeconds: 30}, 429, "too_many_requests", "slow down", "30"},
		{"throttled without hint", apperr.New(apperr.TooManyRequests, "slow down"), 429, "too_many_requests", "slow down", "1"},
		{"unavailable", &apperr.Error{Kind: apperr.Unavailable, Message: "user service down", RetryAfterSeconds: 5}, 503, "unavailable", "user service down", "5"},
		{"wrapped apperr", fmt.Errorf("handler: %w", apperr.New(apperr.NotFound, "gone")), 404, "not_found", "gone", ""},
		{"plain error", errors.New("pq: password authentication failed for db.internal:5432"), 500, "internal", "internal server error", ""},
		{"internal apperr", &apperr.Error{Kind: apperr.Internal, Message: "select from users failed"}, 500, "internal", "internal server error", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, _ := telemetrytest.New(t)
			logs := &syncBuffer{}
			p.Logger = telemetry.NewLogger(logs, slog.LevelDebug)
			r := httpx.NewRouter(p, "test")
			r.Get("/fail", func(w http.ResponseWriter, r *http.Request) { httpx.WriteError(w, r, tt.err) })
			srv := serve(t, r)

			resp := do(t, srv, request{path: "/fail?x=1"})
			prob := problem(t, resp, tt.status)
			if prob.Type != httpx.ProblemTypeBase+tt.kind {
				t.Errorf("type = %q, want kind %q", prob.Type, tt.kind)
			}
			if !strings.HasPrefix(prob.Detail, tt.detail) {
				t.Errorf("detail = %q, want prefix %q", prob.Detail, tt.detail)
			}
			if prob.Instance != "/fail" {
				t.Errorf("instance = %q, want /fail", prob.Instance)
			}
			if prob.RequestID == "" || prob.RequestID != resp.Header.Get("X-Request-Id") {
				t.Errorf("request_id = %q, header %q", prob.RequestID, resp.Header.Get("X-Request-Id"))
			}
			if len(prob.TraceID) != 32 {
				t.Errorf("trace_id = %q, want 32 hex digits", prob.TraceID)
			}
			if got := resp.Header.Get("Retry-After"); got != tt.retryAfter {
				t.Errorf("Retry-After = %q, want %q", got, tt.retryAfter)
			}
			if got, want := resp.Header.Get("WWW-Authenticate"), map[bool]string{true: "Bearer"}[tt.status == 401]; got != want {
				t.Errorf("WWW-Authenticate = %q, want %q", got, want)
			}
			if tt.status == 500 {
				// The cause goes to the log, with the ids the client was given.
				line := waitForLog(t, logs, func(m map[string]any) bool { return m["msg"] == "request failed" })
				if line["trace_id"] != prob.TraceID || line["request_id"] != prob.RequestID {
					t.Errorf("log ids %v/%v, problem %s/%s", line["trace_id"], line["request_id"], prob.TraceID, prob.RequestID)
				}
				if !strings.Contains(fmt.Sprint(line["err"]), tt.err.Error()) {
					t.Errorf("log err = %v, want the real cause", line["err"])
				}
			}
		})
	}
}

func TestWriteErrorListsFieldErrors(t *testing.T) {
	r := httpx.NewRouter(telemetry.Noop(), "test")
	r.Get("/fail", func(w http.ResponseWriter, r *http.Request) {
		httpx.WriteError(w, r, &apperr.Error{Kind: apperr.Invalid, Message: "invalid user", Fields: []apperr.FieldError{
			{Field: "email", Detail: "must contain @"},
			{Field: "password", Detail: "must be at least 8 characters"},
		}})
	})
	prob := problem(t, do(t, serve(t, r), request{path: "/fail"}), http.StatusBadRequest)
	if len(prob.Errors) != 2 || prob.Errors[0].Field != "email" || prob.Errors[1].Field != "password" {
		t.Errorf("errors = %+v", prob.Errors)
	}
}
