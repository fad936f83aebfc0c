package database

import (
	"context"
	"database/sql/driver"
	"strings"

	"github.com/XSAM/otelsql"
	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/vidstream/vidstream/services/internal/telemetry"
)

// maxQueryText bounds db.query.text. Our statements are static and carry
// parameters as placeholders, so the text holds no user data; the bound only
// keeps a generated IN (...) list or a big migration from bloating spans.
const maxQueryText = 2048

// otelOptions instruments the driver with the service's own providers, never
// the otel globals, so a test can run several services in one process with a
// span recorder each.
func otelOptions(d Dialect, p telemetry.Providers, extra ...attribute.KeyValue) []otelsql.Option {
	attrs := append([]attribute.KeyValue{d.systemName()}, extra...)
	return []otelsql.Option{
		otelsql.WithTracerProvider(p.Tracer),
		otelsql.WithMeterProvider(p.Meter),
		otelsql.WithAttributes(attrs...),
		otelsql.WithSpanNameFormatter(spanName),
		otelsql.WithAttributesGetter(queryAttributes),
		otelsql.WithSpanOptions(otelsql.SpanOptions{
			// We set a bounded db.query.text ourselves in queryAttributes.
			DisableQuery: true,
			// driver.ErrSkip is database/sql's internal fallback signal
			// (for example "no fast path, prepare instead"), not a failure.
			DisableErrSkip: true,
			// Rows and session-reset spans double the span count of every
			// request and say little the query span does not.
			OmitRows:             true,
			OmitConnResetSession: true,
			// A query outside any span (a migration at start, a background
			// poller) would become a root span of its own: a one-span trace
			// every poll interval that buries the request traces in Jaeger.
			SpanFilter: hasParentSpan,
		}),
	}
}

func hasParentSpan(ctx context.Context, _ otelsql.Method, _ string, _ []driver.NamedValue) bool {
	return trace.SpanContextFromContext(ctx).IsValid()
}

// spanName follows the OpenTelemetry database conventions: the operation
// (SELECT, INSERT, ...) when there is a statement, the transaction verb for
// BEGIN/COMMIT/ROLLBACK, and otelsql's method name otherwise.
func spanName(_ context.Context, method otelsql.Method, query string) string {
	switch method {
	case otelsql.MethodConnBeginTx:
		return "BEGIN"
	case otelsql.MethodTxCommit:
		return "COMMIT"
	case otelsql.MethodTxRollback:
		return "ROLLBACK"
	}
	if op := operation(query); op != "" {
		return op
	}
	return string(method)
}

func queryAttributes(_ context.Context, _ otelsql.Method, query string, _ []driver.NamedValue) []attribute.KeyValue {
	if query == "" {
		return nil
	}
	text := query
	if len(text) > maxQueryText {
		text = text[:maxQueryText]
	}
	attrs := []attribute.KeyValue{semconv.DBQueryText(text)}
	if op := operation(query); op != "" {
		attrs = append(attrs, semconv.DBOperationName(op))
	}
	return attrs
}

// operation returns a statement's first keyword, upper-cased, skipping
// leading whitespace and SQL comments. For a CTE it is WITH: telling what the
// statement finally does would need a parser, and the query text is on the
// span anyway.
func operation(query string) string {
	q := query
	for {
		q = strings.TrimLeft(q, " \t\r\n(")
		switch {
		case strings.HasPrefix(q, "--"):
			_, rest, ok := strings.Cut(q, "\n")
			if !ok {
				return ""
			}
			q = rest
		case strings.HasPrefix(q, "/*"):
			_, rest, ok := strings.Cut(q, "*/")
			if !ok {
				return ""
			}
			q = rest
		default:
			end := strings.IndexFunc(q, func(r rune) bool {
				return (r < 'a' || r > 'z') && (r < 'A' || r > 'Z')
			})
			if end < 0 {
				end = len(q)
			}
			return strings.ToUpper(q[:end])
		}
	}
}
