package telemetry

import (
	"context"
	"io"
	"log/slog"
	"slices"

	"go.opentelemetry.io/otel/trace"
)

// NewLogger returns a JSON logger that adds trace_id and span_id to every
// record logged with a context carrying a valid span. Correlating a log line
// with its trace is the point of structured logs in a distributed system, so
// it is done here once instead of at every call site.
func NewLogger(w io.Writer, level slog.Leveler) *slog.Logger {
	return slog.New(newTraceHandler(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level})))
}

// traceHandler decorates records with the ids of the span in the context.
//
// The ids must stay top-level keys whatever groups a caller opened with
// WithGroup (log pipelines look for "trace_id", not "http.trace_id"). A plain
// wrapper that appends them in Handle would nest them inside the open group,
// so the handler remembers the WithAttrs/WithGroup calls and, for a record
// with a span, replays them on top of a base that already carries the ids.
// Records without a span take the precomputed fast path.
type traceHandler struct {
	base    slog.Handler // the undecorated handler
	derived slog.Handler // base with ops applied
	ops     []handlerOp
}

// handlerOp is one WithAttrs (attrs != nil) or WithGroup (group != "") call.
type handlerOp struct {
	group string
	attrs []slog.Attr
}

func newTraceHandler(base slog.Handler) *traceHandler {
	return &traceHandler{base: base, derived: base}
}

func (h *traceHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.base.Enabled(ctx, level)
}

func (h *traceHandler) Handle(ctx context.Context, r slog.Record) error {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return h.derived.Handle(ctx, r)
	}
	target := h.base.WithAttrs([]slog.Attr{
		slog.String("trace_id", sc.TraceID().String()),
		slog.String("span_id", sc.SpanID().String()),
	})
	return applyOps(target, h.ops).Handle(ctx, r)
}

func (h *traceHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return h
	}
	return h.with(handlerOp{attrs: attrs})
}

func (h *traceHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return h.with(handlerOp{group: name})
}

func (h *traceHandler) with(op handlerOp) *traceHandler {
	// A fresh slice: siblings derived from the same parent must not share
	// (and overwrite) one backing array.
	ops := slices.Concat(h.ops, []handlerOp{op})
	return &traceHandler{base: h.base, derived: applyOps(h.derived, ops[len(ops)-1:]), ops: ops}
}

func applyOps(h slog.Handler, ops []handlerOp) slog.Handler {
	for _, op := range ops {
		if op.group != "" {
			h = h.WithGroup(op.group)
		} else {
			h = h.WithAttrs(op.attrs)
		}
	}
	return h
}
