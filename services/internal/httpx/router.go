package httpx

import (
	"net/http"

	"github.com/go-chi/chi/v5"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"

	"github.com/vidstream/vidstream/services/internal/apperr"
	"github.com/vidstream/vidstream/services/internal/telemetry"
)

// NewRouter returns a chi router with the middleware every vidstream API
// shares. From the outside in:
//
//  1. request id: first, so every response, even a 404 or a recovered
//     panic, carries one;
//  2. OpenTelemetry server instrumentation (otelhttp) with p's providers and
//     propagator, skipping the probe and scrape endpoints;
//  3. route naming: once routing has happened, renames the span to
//     "METHOD /route/{pattern}" and sets http.route on it and on the request
//     metrics (otelhttp cannot know the chi pattern when it starts the span);
//  4. access log, one line per request, with trace ids from the context;
//  5. panic recovery answering a 500 problem, inside the log and the span so
//     both see that status;
//  6. the 1 MiB body limit.
//
// Unknown paths and methods are answered with problem+json 404 and 405.
func NewRouter(p telemetry.Providers, serviceName string) chi.Router {
	r := chi.NewRouter()
	r.Use(
		withRequestID,
		otelhttp.NewMiddleware(serviceName,
			otelhttp.WithTracerProvider(p.Tracer),
			otelhttp.WithMeterProvider(p.Meter),
			otelhttp.WithPropagators(p.Propagator),
			otelhttp.WithFilter(notProbe),
		),
		nameSpanAfterRoute,
		accessLog(p.Logger),
		recoverPanic,
		limitBody,
	)
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		markUnmatched(r.Context())
		WriteError(w, r, apperr.New(apperr.NotFound, "no route for %s", r.URL.Path))
	})
	r.MethodNotAllowed(methodNotAllowed(r))
	return r
}

// notProbe keeps health checks and scrapes out of traces: they arrive every
// few seconds from each kubelet and Prometheus, and would bury real traffic.
func notProbe(r *http.Request) bool {
	return !isProbe(r.URL.Path)
}

func isProbe(path string) bool {
	switch path {
	case "/healthz", "/readyz", "/metrics":
		return true
	}
	return false
}

func limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
		next.ServeHTTP(w, r)
	})
}

// candidateMethods are the methods a 405 can list in its Allow header.
var candidateMethods = []string{
	http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
	http.MethodPatch, http.MethodDelete, http.MethodOptions,
}

// methodNotAllowed answers 405 with the Allow header RFC 9110 requires.
// chi computes the allowed methods but only hands them to its default
// handler, so a custom one asks the router which methods match the path.
func methodNotAllowed(routes chi.Routes) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		markUnmatched(r.Context())
		path := r.URL.RawPath
		if path == "" {
			path = r.URL.Path
		}
		for _, m := range candidateMethods {
			if routes.Match(chi.NewRouteContext(), m, path) {
				w.Header().Add("Allow", m)
			}
		}
		status := http.StatusMethodNotAllowed
		writeProblem(w, Problem{
			Type:      ProblemTypeBase + "method_not_allowed",
			Title:     http.StatusText(status),
			Status:    status,
			Detail:    "method " + r.Method + " is not allowed on " + r.URL.Path,
			Instance:  r.URL.Path,
			RequestID: RequestID(r.Context()),
			TraceID:   traceID(r.Context()),
		})
	}
}
