package httpx

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
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
// and trailing data means client and server disagree on framing. For the
// same reason a null member is rejected unless its field can hold null (a
// pointer, slice, map or interface, or a type with its own UnmarshalJSON):
// encoding/json would leave the field as it was, so {"description": null}
// would pass for a string the OpenAPI document says it must be.
//
// Numbers follow JSON Schema, which the OpenAPI documents use: an integer
// field takes any number with a zero fractional part, so 30.0 and 3e1 are
// 30 as much as 30 is (encoding/json alone rejects both).
//
// Every failure is an *apperr.Error of kind Invalid naming the problem (and
// the field, where there is one); [WriteError] answers it with 400, or with
// 413 for a body over [MaxBodyBytes] and 415 for a Content-Type other than
// application/json.
func DecodeJSON(w http.ResponseWriter, r *http.Request, dst any) error {
	if err := requireJSONContentType(r); err != nil {
		return err
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		return decodeError(err)
	}
	// encoding/json decodes a literal null into a struct as "no change", so a
	// null body would pass as an empty object and reach validation looking
	// like a client that sent {}. No request of this API is null.
	if isNull(data) {
		return &apperr.Error{Kind: apperr.Invalid, Message: "request body must be a JSON object, not null"}
	}
	err = decodeStrict(data, dst)
	if isIntegralNumberTypeError(err) {
		if normalized, ok := integralNumbersAsIntegers(data); ok {
			err = decodeStrict(normalized, dst)
		}
	}
	if err != nil {
		return err
	}
	return rejectNulls(data, reflect.TypeOf(dst), "")
}

// decodeStrict decodes data, which must hold exactly one JSON value, into
// dst, rejecting unknown fields.
func decodeStrict(data []byte, dst any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return decodeError(err)
	}
	// A second Decode must find the end of input; anything else, even a
	// second valid value, is trailing data.
	var extra json.RawMessage
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return &apperr.Error{Kind: apperr.Invalid, Message: "request body must contain a single JSON value", Err: err}
	}
	return nil
}

// isIntegralNumberTypeError reports whether err is encoding/json refusing a
// number written with a fraction or an exponent for an integer field.
func isIntegralNumberTypeError(err error) bool {
	var typeErr *json.UnmarshalTypeError
	if !errors.As(err, &typeErr) || typeErr.Type == nil {
		return false
	}
	lit, ok := strings.CutPrefix(typeErr.Value, "number ")
	if !ok || !strings.ContainsAny(lit, ".eE") {
		return false
	}
	t := typeErr.Type
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return true
	}
	return false
}

// integralNumbersAsIntegers rewrites data with every number that has a
// zero fractional part and fits an int64 in plain integer notation (30.0
// and 3e1 become 30). It reports false when data is not JSON or has no
// such number.
func integralNumbersAsIntegers(data []byte) ([]byte, bool) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, false
	}
	changed := false
	var walk func(any) any
	walk = func(v any) any {
		switch v := v.(type) {
		case map[string]any:
			for k, e := range v {
				v[k] = walk(e)
			}
		case []any:
			for i, e := range v {
				v[i] = walk(e)
			}
		case json.Number:
			if i, ok := integralNumber(string(v)); ok {
				changed = true
				return json.Number(strconv.FormatInt(i, 10))
			}
		}
		return v
	}
	v = walk(v)
	if !changed {
		return nil, false
	}
	out, err := json.Marshal(v)
	if err != nil {
		return nil, false
	}
	return out, true
}

// integralNumber returns the value of a JSON number literal written with a
// fraction or an exponent when it is a whole number that fits an int64.
func integralNumber(lit string) (int64, bool) {
	if !strings.ContainsAny(lit, ".eE") {
		return 0, false
	}
	// A huge exponent cannot give an int64 and would be costly to expand.
	if i := strings.IndexAny(lit, "eE"); i >= 0 {
		exp, err := strconv.Atoi(lit[i+1:])
		if err != nil || exp > 400 || exp < -400 {
			return 0, false
		}
	}
	// Exact: no precision to round a fraction away.
	r, ok := new(big.Rat).SetString(lit)
	if !ok || !r.IsInt() || !r.Num().IsInt64() {
		return 0, false
	}
	return r.Num().Int64(), true
}

var jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()

// rejectNulls fails on the first member of the JSON object data that is
// null while the matching field of struct type t (pointers followed) cannot
// hold null, descending into members that are structs themselves. prefix
// is the dotted path of data's object, for the field name in the error.
func rejectNulls(data []byte, t reflect.Type, prefix string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || reflect.PointerTo(t).Implements(jsonUnmarshaler) {
		return nil
	}
	// data decoded into a struct, so it is an object (a null member of a
	// struct field aside, which never reaches here).
	var members map[string]json.RawMessage
	if err := json.Unmarshal(data, &members); err != nil {
		return &apperr.Error{Kind: apperr.Invalid, Message: "request body must be a JSON object", Err: err}
	}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if !f.IsExported() || name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		for key, raw := range members {
			// encoding/json matches member names to fields case-insensitively.
			if !strings.EqualFold(key, name) {
				continue
			}
			if string(bytes.TrimSpace(raw)) == "null" {
				if !nullable(f.Type) {
					return apperr.InvalidField(prefix+name, "must not be null")
				}
				continue
			}
			if err := rejectNulls(raw, f.Type, prefix+name+"."); err != nil {
				return err
			}
		}
	}
	return nil
}

// nullable reports whether encoding/json gives a JSON null a meaning for a
// field of type t: nil for pointers, slices, maps and interfaces, whatever
// the type's own UnmarshalJSON makes of it.
func nullable(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Map, reflect.Interface:
		return true
	}
	return t.Implements(jsonUnmarshaler) || reflect.PointerTo(t).Implements(jsonUnmarshaler)
}

// isNull reports whether data, leading whitespace aside, starts a JSON null
// (the only JSON value that begins with 'n').
func isNull(data []byte) bool {
	data = bytes.TrimLeft(data, " \t\r\n")
	return len(data) > 0 && data[0] == 'n'
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
