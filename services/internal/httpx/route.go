package httpx

import (
	"context"
	"net/http"

	"github.com/go-chi/chi/v5"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// routeInfo is shared, by pointer, between nameSpanAfterRoute and the
// not-found/method-not-allowed handlers deeper in the chain: chi leaves a
// partial pattern (such as "/v1/users/*") in its route context when a
// mounted subrouter finds nothing, and that must not become a route name.
type routeInfo struct {
	unmatched bool
}

type routeInfoKey struct{}

func markUnmatched(ctx context.Context) {
	if info, ok := ctx.Value(routeInfoKey{}).(*routeInfo); ok {
		info.unmatched = true
	}
}

// Route returns the chi route pattern that served the request ctx belongs
// to ("/v1/videos/{id}"), or "" when no route matched. It is meaningful once
// the router has routed, i.e. in handlers and after they return.
func Route(ctx context.Context) string {
	if info, ok := ctx.Value(routeInfoKey{}).(*routeInfo); ok && info.unmatched {
		return ""
	}
	return chi.RouteContext(ctx).RoutePattern()
}

// nameSpanAfterRoute gives the server span the low-cardinality name the
// OTel HTTP conventions ask for, "GET /v1/videos/{id}", and sets http.route.
// Only after routing is the pattern known, so this runs on the way out.
// The route also goes on the request-duration metrics through otelhttp's
// labeler, so they can be broken down per endpoint.
func nameSpanAfterRoute(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := context.WithValue(r.Context(), routeInfoKey{}, &routeInfo{})
		next.ServeHTTP(w, r.WithContext(ctx))

		route := Route(ctx)
		if route == "" {
			return // the span keeps otelhttp's method-only name
		}
		span := trace.SpanFromContext(ctx)
		span.SetName(r.Method + " " + route)
		span.SetAttributes(semconv.HTTPRoute(route))
		if labeler, ok := otelhttp.LabelerFromContext(ctx); ok {
			labeler.Add(semconv.HTTPRoute(route))
		}
	})
}

func traceID(ctx context.Context) string {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		return sc.TraceID().String()
	}
	return ""
}
