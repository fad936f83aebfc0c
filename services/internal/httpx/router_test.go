package httpx_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/trace"
	oteltrace "go.opentelemetry.io/otel/trace"

	"github.com/vidstream/vidstream/services/internal/httpx"
	"github.com/vidstream/vidstream/services/internal/telemetry"
	"github.com/vidstream/vidstream/services/internal/telemetry/telemetrytest"
)

func videoRoutes(r chi.Router) {
	r.Route("/v1/videos", func(r chi.Router) {
		r.Get("/", func(w http.ResponseWriter, _ *http.Request) {
			httpx.WriteJSON(w, http.StatusOK, []string{})
		})
		r.Get("/{id}", func(w http.ResponseWriter, r *http.Request) {
			id, err := httpx.PathUUID(r, "id")
			if err != nil {
				httpx.WriteError(w, r, err)
				return
			}
			httpx.WriteJSON(w, http.StatusOK, map[string]string{"id": id.String(), "route": httpx.Route(r.Context())})
		})
		r.Put("/{id}", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	})
}

func attr(s trace.ReadOnlySpan, key attribute.Key) (attribute.Value, bool) {
	for _, kv := range s.Attributes() {
		if kv.Key == key {
			return kv.Value, true
		}
	}
	return attribute.Value{}, false
}

func TestRouterNamesServerSpanAfterRoutePattern(t *testing.T) {
	p, rec := telemetrytest.New(t)
	r := httpx.NewRouter(p, "video")
	videoRoutes(r)
	srv := serve(t, r)

	id := uuid.New()
	resp := do(t, srv, request{path: "/v1/videos/" + id.String()})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status = %d: %s", resp.StatusCode, resp.body)
	}
	if !strings.Contains(string(resp.body), `"route":"/v1/videos/{id}"`) {
		t.Errorf("handler saw route %s, want /v1/videos/{id}", resp.body)
	}

	spans := waitForSpans(t, rec, 1)
	s := spans[0]
	if s.Name() != "GET /v1/videos/{id}" {
		t.Errorf("span name = %q, want %q", s.Name(), "GET /v1/videos/{id}")
	}
	if s.SpanKind() != oteltrace.SpanKindServer {
		t.Errorf("span kind = %v, want server", s.SpanKind())
	}
	if v, ok := attr(s, "http.route"); !ok || v.AsString() != "/v1/videos/{id}" {
		t.Errorf("http.route = %q (present %v), want /v1/videos/{id}", v.AsString(), ok)
	}
	if v, _ := attr(s, "http.response.status_code"); v.AsInt64() != http.StatusOK {
		t.Errorf("http.response.status_code = %d, want 200", v.AsInt64())
	}
}

func TestRouterRouteOfSubrouterRoot(t *testing.T) {
	p, rec := telemetrytest.New(t)
	r := httpx.NewRouter(p, "video")
	videoRoutes(r)
	srv := serve(t, r)

	do(t, srv, request{path: "/v1/videos"})
	if got := waitForSpans(t, rec, 1)[0].Name(); got != "GET /v1/videos" {
		t.Errorf("span name = %q, want %q", got, "GET /v1/videos")
	}
}

func TestRouterContinuesIncomingTrace(t *testing.T) {
	p, rec := telemetrytest.New(t)
	r := httpx.NewRouter(p, "video")
	videoRoutes(r)
	srv := serve(t, r)

	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	do(t, srv, request{path: "/v1/videos", headers: map[string]string{
		"traceparent": "00-" + traceID + "-00f067aa0ba902b7-01",
	}})
	s := waitForSpans(t, rec, 1)[0]
	if got := s.SpanContext().TraceID().String(); got != traceID {
		t.Errorf("trace id = %s, want the caller's %s", got, traceID)
	}
	if got := s.Parent().SpanID().String(); got != "00f067aa0ba902b7" {
		t.Errorf("parent span id = %s, want the caller's", got)
	}
}

func TestRouterRecordsRouteOnRequestMetrics(t *testing.T) {
	p, _, reader := telemetrytest.NewWithMetrics(t)
	r := httpx.NewRouter(p, "video")
	videoRoutes(r)
	srv := serve(t, r)
	do(t, srv, request{path: "/v1/videos/" + uuid.NewString()})

	// The duration is recorded after the span ends; poll the reader.
	waitFor(t, func() bool {
		var rm metricdata.ResourceMetrics
		if err := reader.Collect(context.Background(), &rm); err != nil {
			t.Fatalf("collect: %v", err)
		}
		for _, sm := range rm.ScopeMetrics {
			for _, m := range sm.Metrics {
				h, ok := m.Data.(metricdata.Histogram[float64])
				if m.Name != "http.server.request.duration" || !ok {
					continue
				}
				for _, dp := range h.DataPoints {
					if v, ok := dp.Attributes.Value("http.route"); ok && v.AsString() == "/v1/videos/{id}" {
						return true
					}
				}
			}
		}
		return false
	})
}

func TestRouterUnknownRouteIsProblem404(t *testing.T) {
	p, rec := telemetrytest.New(t)
	r := httpx.NewRouter(p, "video")
	videoRoutes(r)
	srv := serve(t, r)

	for _, path := range []string{"/nope", "/v1/videos/" + uuid.NewString() + "/extra"} {
		t.Run(path, func(t *testing.T) {
			resp := do(t, srv, request{path: path})
			prob := problem(t, resp, http.StatusNotFound)
			if prob.Type != httpx.ProblemTypeBase+"not_found" {
				t.Errorf("type = %q", prob.Type)
			}
			if prob.Instance != path {
				t.Errorf("instance = %q, want %q", prob.Instance, path)
			}
		})
	}
	// Unmatched requests must not be named after a partial pattern such as
	// "/v1/videos/*", or every scan would look like a real endpoint.
	for _, s := range waitForSpans(t, rec, 2) {
		if s.Name() != "GET" {
			t.Errorf("span name of unmatched request = %q, want %q", s.Name(), "GET")
		}
		if _, ok := attr(s, "http.route"); ok {
			t.Errorf("unmatched request has http.route")
		}
	}
}

func TestRouterWrongMethodIsProblem405WithAllow(t *testing.T) {
	r := httpx.NewRouter(telemetry.Noop(), "video")
	videoRoutes(r)
	srv := serve(t, r)

	resp := do(t, srv, request{method: http.MethodDelete, path: "/v1/videos/" + uuid.NewString()})
	prob := problem(t, resp, http.StatusMethodNotAllowed)
	if prob.Type != httpx.ProblemTypeBase+"method_not_allowed" {
		t.Errorf("type = %q", prob.Type)
	}
	allow := resp.Header.Values("Allow")
	if strings.Join(allow, ",") != "GET,PUT" {
		t.Errorf("Allow = %q, want [GET PUT]", allow)
	}
}

// Found by the API fuzzer (make api-fuzz): chi falls back from a literal
// segment lacking the method to a parameter beside it, so PATCH
// /v1/videos/popular reached PATCH /v1/videos/{id}'s handler with the id
// "popular", and a 405 on the literal path listed the parameter's methods.
func TestRouterLiteralSegmentWinsOverParameter(t *testing.T) {
	r := httpx.NewRouter(telemetry.Noop(), "video")
	r.Get("/v1/videos/popular", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	r.Get("/v1/videos/{id}", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	r.Patch("/v1/videos/{id}", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	r.Delete("/v1/videos/{id}", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	srv := serve(t, r)

	for _, m := range []string{http.MethodPatch, http.MethodDelete, http.MethodPost} {
		resp := do(t, srv, request{method: m, path: "/v1/videos/popular"})
		problem(t, resp, http.StatusMethodNotAllowed)
		if allow := resp.Header.Values("Allow"); strings.Join(allow, ",") != "GET" {
			t.Errorf("%s /v1/videos/popular: Allow = %q, want [GET]", m, allow)
		}
	}
	if resp := do(t, srv, request{method: http.MethodGet, path: "/v1/videos/popular"}); resp.StatusCode != http.StatusOK {
		t.Errorf("GET /v1/videos/popular: %d", resp.StatusCode)
	}
	if resp := do(t, srv, request{method: http.MethodPatch, path: "/v1/videos/other"}); resp.StatusCode != http.StatusNoContent {
		t.Errorf("PATCH /v1/videos/other: %d, want the {id} route", resp.StatusCode)
	}
	resp := do(t, srv, request{method: http.MethodPost, path: "/v1/videos/other"})
	problem(t, resp, http.StatusMethodNotAllowed)
	if allow := resp.Header.Values("Allow"); strings.Join(allow, ",") != "GET,PATCH,DELETE" {
		t.Errorf("POST /v1/videos/other: Allow = %q, want [GET PATCH DELETE]", allow)
	}
}

func TestRouterRecoversPanicAsProblem500(t *testing.T) {
	p, rec := telemetrytest.New(t)
	logs := &syncBuffer{}
	p.Logger = telemetry.NewLogger(logs, slog.LevelDebug)
	r := httpx.NewRouter(p, "video")
	r.Get("/boom", func(http.ResponseWriter, *http.Request) { panic("kaboom") })
	r.Get("/ok", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	srv := serve(t, r)

	prob := problem(t, do(t, srv, request{path: "/boom"}), http.StatusInternalServerError)
	if strings.Contains(prob.Detail, "kaboom") {
		t.Errorf("detail leaks the panic value: %q", prob.Detail)
	}
	if prob.RequestID == "" || prob.TraceID == "" {
		t.Errorf("problem lacks ids: %+v", prob)
	}

	// The process survived and serves the next request.
	if resp := do(t, srv, request{path: "/ok"}); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("after panic: status = %d", resp.StatusCode)
	}

	line := waitForLog(t, logs, func(m map[string]any) bool { return m["msg"] == "panic serving request" })
	if line["trace_id"] != prob.TraceID {
		t.Errorf("log trace_id = %v, want %s", line["trace_id"], prob.TraceID)
	}
	if stack, _ := line["stack"].(string); !strings.Contains(stack, "router_test.go") {
		t.Errorf("logged stack does not reach the panicking handler:\n%s", stack)
	}
	for _, s := range waitForSpans(t, rec, 2) {
		if s.Name() == "GET /boom" && s.Status().Code != codes.Error {
			t.Errorf("span of panicking request has status %v, want Error", s.Status())
		}
	}
}

func TestRouterPanicAfterResponseStartedAbortsConnection(t *testing.T) {
	r := httpx.NewRouter(telemetry.Noop(), "video")
	r.Get("/half", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Length", "100")
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, "partial")
		f, ok := w.(http.Flusher)
		if !ok {
			t.Error("response writer lost http.Flusher in the middleware chain")
			return
		}
		f.Flush()
		panic("midway")
	})
	srv := serve(t, r)

	resp, err := srv.Client().Get(srv.URL + "/half")
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	defer func() { _ = resp.Body.Close() }()
	if _, err := io.ReadAll(resp.Body); err == nil {
		t.Fatal("reading a response whose handler panicked midway succeeded; want a broken connection")
	}
}

func TestRouterRequestID(t *testing.T) {
	r := httpx.NewRouter(telemetry.Noop(), "video")
	r.Get("/id", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, httpx.RequestID(r.Context()))
	})
	srv := serve(t, r)

	t.Run("echoes a well-formed incoming id", func(t *testing.T) {
		resp := do(t, srv, request{path: "/id", headers: map[string]string{"X-Request-Id": "edge-42"}})
		if got := resp.Header.Get("X-Request-Id"); got != "edge-42" {
			t.Errorf("X-Request-Id = %q, want edge-42", got)
		}
		if string(resp.body) != "edge-42" {
			t.Errorf("handler saw %q", resp.body)
		}
	})
	for name, incoming := range map[string]string{
		"missing":   "",
		"too long":  strings.Repeat("a", 129),
		"has space": "a b",
	} {
		t.Run("replaces "+name, func(t *testing.T) {
			resp := do(t, srv, request{path: "/id", headers: map[string]string{"X-Request-Id": incoming}})
			got := resp.Header.Get("X-Request-Id")
			if _, err := uuid.Parse(got); err != nil {
				t.Errorf("X-Request-Id = %q, want a generated UUID", got)
			}
			if string(resp.body) != got {
				t.Errorf("handler saw %q, header says %q", resp.body, got)
			}
		})
	}
	t.Run("problem carries the id", func(t *testing.T) {
		resp := do(t, srv, request{path: "/missing", headers: map[string]string{"X-Request-Id": "trace-me"}})
		if prob := problem(t, resp, http.StatusNotFound); prob.RequestID != "trace-me" {
			t.Errorf("problem request_id = %q", prob.RequestID)
		}
	})
}

func TestRouterAccessLog(t *testing.T) {
	p, _ := telemetrytest.New(t)
	logs := &syncBuffer{}
	p.Logger = telemetry.NewLogger(logs, slog.LevelInfo)
	r := httpx.NewRouter(p, "video")
	videoRoutes(r)
	srv := serve(t, r)

	do(t, srv, request{path: "/v1/videos/not-a-uuid", headers: map[string]string{"X-Request-Id": "log-me"}})
	line := waitForLog(t, logs, func(m map[string]any) bool { return m["msg"] == "http request" })
	want := map[string]any{
		"method":     "GET",
		"route":      "/v1/videos/{id}",
		"path":       "/v1/videos/not-a-uuid",
		"status":     float64(http.StatusBadRequest),
		"request_id": "log-me",
	}
	for k, v := range want {
		if line[k] != v {
			t.Errorf("log %s = %v, want %v", k, line[k], v)
		}
	}
	for _, k := range []string{"trace_id", "span_id", "duration_ms"} {
		if _, ok := line[k]; !ok {
			t.Errorf("log line lacks %s: %v", k, line)
		}
	}
}

func TestRouterLimitsBodyForEveryHandler(t *testing.T) {
	r := httpx.NewRouter(telemetry.Noop(), "video")
	r.Post("/raw", func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			httpx.WriteError(w, r, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	srv := serve(t, r)

	problem(t, do(t, srv, request{method: http.MethodPost, path: "/raw", body: strings.Repeat("x", httpx.MaxBodyBytes+1)}),
		http.StatusRequestEntityTooLarge)
	if resp := do(t, srv, request{method: http.MethodPost, path: "/raw", body: strings.Repeat("x", httpx.MaxBodyBytes)}); resp.StatusCode != http.StatusNoContent {
		t.Errorf("body of exactly the limit: status = %d", resp.StatusCode)
	}
}

func TestRouterDoesNotTraceProbes(t *testing.T) {
	p, rec := telemetrytest.New(t)
	r := httpx.NewRouter(p, "video")
	var h httpx.Health
	r.Get("/healthz", h.Liveness())
	r.Get("/v1/ping", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	srv := serve(t, r)

	do(t, srv, request{path: "/healthz"})
	do(t, srv, request{path: "/v1/ping"})
	// The probe is served first; a span for it would have been started
	// (and, the response read, almost surely ended) before the ping's.
	spans := waitForSpans(t, rec, 1)
	for _, s := range spans {
		if s.Name() != "GET /v1/ping" {
			t.Errorf("unexpected span %q", s.Name())
		}
	}
}
