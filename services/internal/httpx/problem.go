package httpx

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"go.opentelemetry.io/otel/trace"

	"github.com/vidstream/vidstream/services/internal/apperr"
)

// ProblemTypeBase prefixes the type URI of every problem. A stable URI per
// kind lets clients branch on the type instead of parsing the title.
const ProblemTypeBase = "https://vidstream.dev/problems/"

// Problem is an RFC 9457 problem details document, with the extension
// members this codebase adds: the offending fields and the ids that let an
// operator find the request in logs and traces.
type Problem struct {
	Type      string              `json:"type"`
	Title     string              `json:"title"`
	Status    int                 `json:"status"`
	Detail    string              `json:"detail,omitempty"`
	Instance  string              `json:"instance,omitempty"`
	Errors    []apperr.FieldError `json:"errors,omitempty"`
	RequestID string              `json:"request_id,omitempty"`
	TraceID   string              `json:"trace_id,omitempty"`
}

// ProblemContentType is the media type of problem responses.
const ProblemContentType = "application/problem+json"

// internalDetail is all a client learns about a server fault; the cause is
// in the logs under the ids the problem carries.
const internalDetail = "internal server error; quote request_id or trace_id when reporting it"

// errUnsupportedMediaType marks an apperr.Invalid error that must be answered
// with 415 rather than 400. apperr has no kind for it because only the HTTP
// transport can have the wrong media type.
var errUnsupportedMediaType = errors.New("unsupported media type")

// WriteError answers r with the problem document for err.
//
// The status comes from the apperr.Kind (see [StatusOf]); an error of no
// kind that says a dependency could not be reached (a database restarting)
// is 503 with Retry-After; other errors of no kind are internal: the client gets a generic detail and the real error is
// logged, with the trace ids, and recorded on the request's span.
func WriteError(w http.ResponseWriter, r *http.Request, err error) {
	err = asUnavailable(err)
	status := StatusOf(err)
	p := Problem{
		Type:      problemType(err, status),
		Title:     http.StatusText(status),
		Status:    status,
		Instance:  r.URL.Path,
		RequestID: RequestID(r.Context()),
	}
	p.TraceID = traceID(r.Context())
	ae, isApp := apperr.As(err)
	// Messages of client errors and of Unavailable are written for the
	// caller; an Internal message may describe the server's insides.
	if isApp && (status < 500 || status == http.StatusServiceUnavailable) {
		p.Detail = ae.Message
		p.Errors = ae.Fields
	}

	switch status {
	case http.StatusUnauthorized:
		// RFC 9110 requires a challenge with every 401.
		w.Header().Set("WWW-Authenticate", "Bearer")
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		retry := 0
		if isApp {
			retry = ae.RetryAfterSeconds
		}
		if retry <= 0 && status == http.StatusTooManyRequests {
			retry = 1 // the contract promises Retry-After on every 429
		}
		if retry > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(retry))
		}
	}
	if status >= 500 {
		logServerError(r, status, err)
		if status == http.StatusInternalServerError {
			p.Detail = internalDetail
		}
	}
	writeProblem(w, p)
}

// StatusOf is the HTTP status WriteError uses for err.
func StatusOf(err error) int {
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, errUnsupportedMediaType):
		return http.StatusUnsupportedMediaType
	}
	switch apperr.KindOf(err) {
	case apperr.Invalid:
		return http.StatusBadRequest
	case apperr.Unauthenticated:
		return http.StatusUnauthorized
	case apperr.Forbidden:
		return http.StatusForbidden
	case apperr.NotFound:
		return http.StatusNotFound
	case apperr.Conflict:
		return http.StatusConflict
	case apperr.TooManyRequests:
		return http.StatusTooManyRequests
	case apperr.Unavailable:
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

func problemType(err error, status int) string {
	switch status {
	case http.StatusRequestEntityTooLarge:
		return ProblemTypeBase + "payload_too_large"
	case http.StatusUnsupportedMediaType:
		return ProblemTypeBase + "unsupported_media_type"
	case http.StatusMethodNotAllowed:
		return ProblemTypeBase + "method_not_allowed"
	}
	return ProblemTypeBase + apperr.KindOf(err).String()
}

func logServerError(r *http.Request, status int, err error) {
	ctx := r.Context()
	level := slog.LevelError
	if status == http.StatusServiceUnavailable || (ctx.Err() != nil && errors.Is(err, context.Canceled)) {
		// A dependency being down or the client hanging up is not a bug
		// in this service; keep error level for what needs fixing here.
		level = slog.LevelWarn
	}
	span := trace.SpanFromContext(ctx)
	span.RecordError(err)
	loggerFrom(ctx).LogAttrs(ctx, level, "request failed",
		slog.Int("status", status),
		slog.String("request_id", RequestID(ctx)),
		slog.Any("err", err),
	)
}

func writeProblem(w http.ResponseWriter, p Problem) {
	body, err := json.Marshal(p)
	if err != nil {
		// Problem holds only strings and ints; this cannot happen.
		body = []byte(`{"type":"about:blank","title":"Internal Server Error","status":500}`)
		p.Status = http.StatusInternalServerError
	}
	w.Header().Set("Content-Type", ProblemContentType)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(p.Status)
	_, _ = w.Write(append(body, '\n')) // a failed write means the client left
}
