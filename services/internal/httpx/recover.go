package httpx

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"

	"github.com/go-chi/chi/v5/middleware"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/vidstream/vidstream/services/internal/apperr"
)

// recoverPanic turns a handler panic into a logged stack and a 500 problem,
// so one bad request cannot take the process down with it.
//
// If the handler had already started its response, the status can no longer
// change; the panic is then re-raised as http.ErrAbortHandler, which makes
// net/http drop the connection so the client sees a broken response rather
// than a truncated one that looks complete.
func recoverPanic(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		defer func() {
			if v := recover(); v != nil {
				handlePanic(ww, r, v)
			}
		}()
		next.ServeHTTP(ww, r)
	})
}

func handlePanic(w middleware.WrapResponseWriter, r *http.Request, v any) {
	if err, ok := v.(error); ok && errors.Is(err, http.ErrAbortHandler) {
		panic(v) // a deliberate abort, not a bug
	}
	ctx := r.Context()
	err := fmt.Errorf("panic: %v", v)
	// Captured here, still inside the deferred call, so the stack shows
	// where the panic happened.
	stack := string(debug.Stack())
	span := trace.SpanFromContext(ctx)
	span.RecordError(err, trace.WithAttributes(semconv.ExceptionStacktrace(stack)))
	span.SetStatus(codes.Error, "panic")
	loggerFrom(ctx).LogAttrs(ctx, slog.LevelError, "panic serving request",
		slog.Any("panic", v),
		slog.String("stack", stack),
		slog.String("request_id", RequestID(ctx)),
	)
	if w.Status() != 0 {
		panic(http.ErrAbortHandler)
	}
	writeInternal(w, r)
}

// writeInternal answers 500 for a failure that has already been logged.
func writeInternal(w http.ResponseWriter, r *http.Request) {
	status := http.StatusInternalServerError
	writeProblem(w, Problem{
		Type:      ProblemTypeBase + apperr.Internal.String(),
		Title:     http.StatusText(status),
		Status:    status,
		Detail:    internalDetail,
		Instance:  r.URL.Path,
		RequestID: RequestID(r.Context()),
		TraceID:   traceID(r.Context()),
	})
}
