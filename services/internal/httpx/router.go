package httpx

import (
	"net/http"
	"strings"

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
//  6. the 1 MiB body limit;
//  7. static segments win (see [staticSegmentsWin]).
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
		staticSegmentsWin(r),
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
		allow, _ := allowedMethods(routes, routePath(r))
		writeMethodNotAllowed(w, r, allow)
	}
}

func writeMethodNotAllowed(w http.ResponseWriter, r *http.Request, allow []string) {
	markUnmatched(r.Context())
	for _, m := range allow {
		w.Header().Add("Allow", m)
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

// routePath is the path chi routes on: the escaped form when the URL has
// one.
func routePath(r *http.Request) string {
	if r.URL.RawPath != "" {
		return r.URL.RawPath
	}
	return r.URL.Path
}

// allowedMethods returns the methods of the resource a path names, and that
// resource's route pattern ("" when no route matches). When a literal route
// and a parameterised one both match ("/v1/videos/popular" and
// "/v1/videos/{id}"), the path names the literal one, as in OpenAPI, where
// a concrete path wins over a templated one: the methods that only the
// parameterised route has do not apply to it.
func allowedMethods(routes chi.Routes, path string) (allow []string, pattern string) {
	patterns := make([]string, len(candidateMethods))
	for i, m := range candidateMethods {
		patterns[i] = routes.Find(chi.NewRouteContext(), m, path)
		if p := patterns[i]; p != "" && (pattern == "" || params(p) < params(pattern)) {
			pattern = p
		}
	}
	for i, m := range candidateMethods {
		if patterns[i] != "" && patterns[i] == pattern {
			allow = append(allow, m)
		}
	}
	return allow, pattern
}

// params counts the parameters of a route pattern.
func params(pattern string) int { return strings.Count(pattern, "{") }

// staticSegmentsWin answers 405 for a method that only a parameterised
// route has when a literal route names the path. chi falls back from a
// literal segment that lacks the method to a parameter at the same level,
// so without this PATCH /v1/videos/popular would reach the handler of
// PATCH /v1/videos/{id} with the id "popular" and be answered as a bad id,
// while the OpenAPI document (and GET) say the path is the popular list,
// which has no PATCH.
func staticSegmentsWin(routes chi.Routes) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			path := routePath(r)
			if p := routes.Find(chi.NewRouteContext(), r.Method, path); p != "" && params(p) > 0 {
				if allow, best := allowedMethods(routes, path); best != p {
					writeMethodNotAllowed(w, r, allow)
					return
				}
			}
			next.ServeHTTP(w, r)
		})
	}
}
