package httpx

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"

	"github.com/vidstream/vidstream/services/internal/apperr"
)

// MaxBodyBytes bounds every request body. The contract answers 413 past it;
// without a bound one client could make the server buffer arbitrarily much.
const MaxBodyBytes = 1 << 20

// WriteJSON writes v as the JSON response body with the given status.
//
// v is encoded before anything is written, so an unencodable value (a bug)
// still yields a clean 500 instead of a 200 with half a body.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		writeProblem(w, Problem{
			Type:   ProblemTypeBase + apperr.Internal.String(),
			Title:  http.StatusText(http.StatusInternalServerError),
			Status: http.StatusInternalServerError,
			Detail: "internal server error",
		})
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n')) // a failed write means the client left
}

// DecodeJSON strictly decodes the request body, one JSON value, into dst.
//
// Strictness is a contract, not pedantry: an unknown field is usually a
// client's typo ("dispaly_name") that would otherwise be silently dropped,
// and trailing data means client and server disagree on framing.
//
// Every failure is an *apperr.Error of kind Invalid naming the problem (and
// the field, where there is one); [WriteError] answers it with 400, or with
// 413 for a body over [MaxBodyBytes] and 415 for a Content-Type other than
// application/json.
func DecodeJSON(w http.ResponseWriter, r *http.Request, dst any) error {
	if err := requireJSONContentType(r); err != nil {
		return err
	}
	body := bufio.NewReader(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	// encoding/json decodes a literal null into a struct as "no change", so a
	// null body would pass as an empty object and reach validation looking
	// like a client that sent {}. No request of this API is null.
	if isNull(body) {
		return &apperr.Error{Kind: apperr.Invalid, Message: "request body must be a JSON object, not null"}
	}
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return decodeError(err)
	}
	// A second Decode must find the end of input; anything else, even a
	// second valid value, is trailing data.
	var extra json.RawMessage
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
		return nil
	case isTooLarge(err):
		return decodeError(err)
	default:
		return &apperr.Error{Kind: apperr.Invalid, Message: "request body must contain a single JSON value", Err: err}
	}
}

// isNull reports whether the next non-space byte of body starts a JSON null
// (the only JSON value that begins with 'n'), without consuming the value.
func isNull(body *bufio.Reader) bool {
	for {
		b, err := body.Peek(1)
		if err != nil {
			return false
		}
		switch b[0] {
		case ' ', '\t', '\r', '\n':
			_, _ = body.Discard(1)
		default:
			return b[0] == 'n'
		}
	}
}

func requireJSONContentType(r *http.Request) error {
	ct := r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if err == nil && mt == "application/json" {
		return nil
	}
	return &apperr.Error{
		Kind:    apperr.Invalid,
		Message: fmt.Sprintf("Content-Type must be application/json, got %q", ct),
		Err:     errUnsupportedMediaType,
	}
}

// decodeError turns an encoding/json error into a caller-safe apperr.
func decodeError(err error) *apperr.Error {
	var (
		syntaxErr *json.SyntaxError
		typeErr   *json.UnmarshalTypeError
		tooLarge  *http.MaxBytesError
		invalid   *json.InvalidUnmarshalError
	)
	switch {
	case errors.As(err, &tooLarge):
		return &apperr.Error{Kind: apperr.Invalid, Message: fmt.Sprintf("request body exceeds %d bytes", tooLarge.Limit), Err: err}
	case errors.Is(err, io.EOF):
		return &apperr.Error{Kind: apperr.Invalid, Message: "request body is empty", Err: err}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &apperr.Error{Kind: apperr.Invalid, Message: "malformed JSON: unexpected end of input", Err: err}
	case errors.As(err, &syntaxErr):
		return &apperr.Error{Kind: apperr.Invalid, Message: fmt.Sprintf("malformed JSON at offset %d", syntaxErr.Offset), Err: err}
	case errors.As(err, &typeErr):
		if typeErr.Field == "" {
			return &apperr.Error{Kind: apperr.Invalid, Message: "request body must be a JSON " + jsonType(typeErr.Type), Err: err}
		}
		e := apperr.InvalidField(typeErr.Field, "must be a JSON "+jsonType(typeErr.Type))
		e.Err = err
		return e
	case errors.As(err, &invalid):
		// dst was not a non-nil pointer: a programming error, not the client's.
		return &apperr.Error{Kind: apperr.Internal, Message: "decode request body", Err: err}
	}
	if field, ok := unknownField(err); ok {
		e := apperr.InvalidField(field, "unknown field")
		e.Err = err
		return e
	}
	// What is left comes from UnmarshalJSON/UnmarshalText methods of the
	// destination's types (a malformed UUID or timestamp, say). encoding/json
	// does not say which field failed, so the message is all there is.
	return &apperr.Error{Kind: apperr.Invalid, Message: "invalid request body: " + err.Error(), Err: err}
}

// unknownField extracts the name from encoding/json's unknown-field error,
// which has no type of its own, only this message format.
func unknownField(err error) (string, bool) {
	const prefix = "json: unknown field "
	msg := err.Error()
	if !strings.HasPrefix(msg, prefix) {
		return "", false
	}
	name, uerr := strconv.Unquote(strings.TrimPrefix(msg, prefix))
	if uerr != nil {
		return "", false
	}
	return name, true
}

func isTooLarge(err error) bool {
	var tooLarge *http.MaxBytesError
	return errors.As(err, &tooLarge)
}

// jsonType names a Go type the way a client of a JSON API thinks of it.
func jsonType(t reflect.Type) string {
	if t == nil {
		return "value"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Implements(textUnmarshaler) || reflect.PointerTo(t).Implements(textUnmarshaler) {
		return "string"
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.Map, reflect.Struct:
		return "object"
	default:
		return "value"
	}
}

var textUnmarshaler = reflect.TypeFor[interface{ UnmarshalText([]byte) error }]()
