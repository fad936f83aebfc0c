package httpx_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/vidstream/vidstream/services/internal/apperr"
	"github.com/vidstream/vidstream/services/internal/httpx"
	"github.com/vidstream/vidstream/services/internal/telemetry"
)

type createVideo struct {
	Title    string    `json:"title"`
	Duration int       `json:"duration_seconds"`
	Tags     []string  `json:"tags"`
	OwnerID  uuid.UUID `json:"owner_id"`
	Meta     struct {
		Views int `json:"views"`
	} `json:"meta"`
}

func decodeServer(t *testing.T) *httptest.Server {
	t.Helper()
	r := httpx.NewRouter(telemetry.Noop(), "test")
	r.Post("/videos", func(w http.ResponseWriter, r *http.Request) {
		var in createVideo
		if err := httpx.DecodeJSON(w, r, &in); err != nil {
			httpx.WriteError(w, r, err)
			return
		}
		httpx.WriteJSON(w, http.StatusCreated, in)
	})
	return serve(t, r)
}

func TestDecodeJSONAcceptsWellFormedBody(t *testing.T) {
	srv := decodeServer(t)
	for name, ct := range map[string]string{
		"plain":        "application/json",
		"with charset": "application/json; charset=utf-8",
		"upper case":   "Application/JSON",
	} {
		t.Run(name, func(t *testing.T) {
			body := `{"title":"cats","duration_seconds":42,"tags":["a"],"meta":{"views":1}}` + " \n\t"
			resp := do(t, srv, request{method: http.MethodPost, path: "/videos", body: body,
				headers: map[string]string{"Content-Type": ct}})
			if resp.StatusCode != http.StatusCreated {
				t.Fatalf("status = %d: %s", resp.StatusCode, resp.body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("response Content-Type = %q", ct)
			}
			var got createVideo
			if err := json.Unmarshal(resp.body, &got); err != nil || got.Title != "cats" || got.Duration != 42 || got.Meta.Views != 1 {
				t.Errorf("echo = %s (%v)", resp.body, err)
			}
		})
	}
}

func TestDecodeJSONRejections(t *testing.T) {
	srv := decodeServer(t)
	tests := []struct {
		name        string
		body        string
		contentType string // "" means application/json; "-" means none
		status      int
		detail      string // substring of the problem detail
		field       string // the field named in errors, if any
	}{
		{name: "malformed", body: `{"title" "x"}`, status: 400, detail: "malformed JSON at offset"},
		{name: "truncated", body: `{"title":`, status: 400, detail: "unexpected end"},
		{name: "empty", body: ``, status: 400, detail: "empty"},
		{name: "whitespace only", body: "  \n", status: 400, detail: "empty"},
		{name: "unknown field", body: `{"titel":"x"}`, status: 400, detail: "titel", field: "titel"},
		{name: "wrong type", body: `{"duration_seconds":"long"}`, status: 400, detail: "integer", field: "duration_seconds"},
		{name: "fraction for integer", body: `{"duration_seconds":1.5}`, status: 400, field: "duration_seconds"},
		{name: "wrong nested type", body: `{"meta":{"views":"many"}}`, status: 400, field: "meta.views"},
		{name: "wrong element type", body: `{"tags":[1]}`, status: 400, detail: "string", field: "tags"},
		{name: "not an object", body: `[]`, status: 400, detail: "must be a JSON object"},
		{name: "null", body: " null", status: 400, detail: "not null"},
		{name: "bad uuid", body: `{"owner_id":"nope"}`, status: 400, detail: "invalid request body"},
		{name: "second object", body: `{"title":"a"}{"title":"b"}`, status: 400, detail: "single JSON value"},
		{name: "trailing garbage", body: `{"title":"a"} x`, status: 400, detail: "single JSON value"},
		{name: "over 1 MiB", body: `{"title":"` + strings.Repeat("x", httpx.MaxBodyBytes) + `"}`, status: 413, detail: "exceeds 1048576 bytes"},
		{name: "over 1 MiB after the value", body: `{}` + strings.Repeat(" ", httpx.MaxBodyBytes), status: 413},
		{name: "text/plain", body: `{}`, contentType: "text/plain", status: 415, detail: "application/json"},
		{name: "no content type", body: `{}`, contentType: "-", status: 415},
		{name: "json-ish suffix", body: `{}`, contentType: "application/problem+json", status: 415},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			headers := map[string]string{"Content-Type": "application/json"}
			switch tt.contentType {
			case "":
			case "-":
				headers = nil
			default:
				headers["Content-Type"] = tt.contentType
			}
			resp := do(t, srv, request{method: http.MethodPost, path: "/videos", body: tt.body, headers: headers})
			prob := problem(t, resp, tt.status)
			if !strings.Contains(prob.Detail, tt.detail) {
				t.Errorf("detail = %q, want it to contain %q", prob.Detail, tt.detail)
			}
			if tt.field != "" {
				if len(prob.Errors) != 1 || prob.Errors[0].Field != tt.field {
					t.Errorf("errors = %+v, want one naming %q", prob.Errors, tt.field)
				}
			} else if len(prob.Errors) != 0 {
				t.Errorf("errors = %+v, want none", prob.Errors)
			}
		})
	}
}

func TestDecodeJSONRejectsNonPointerAsInternal(t *testing.T) {
	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(`{}`))
	req.Header.Set("Content-Type", "application/json")
	var dst createVideo
	err := httpx.DecodeJSON(httptest.NewRecorder(), req, dst)
	if apperr.KindOf(err) != apperr.Internal {
		t.Fatalf("DecodeJSON(non-pointer) = %v, want an Internal error (a bug, not the client's)", err)
	}
}

func TestWriteJSON(t *testing.T) {
	rec := httptest.NewRecorder()
	httpx.WriteJSON(rec, http.StatusAccepted, map[string]any{"at": time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)})
	if rec.Code != http.StatusAccepted {
		t.Errorf("status = %d", rec.Code)
	}
	if got := rec.Header().Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type = %q", got)
	}
	if got, want := rec.Body.String(), `{"at":"2025-01-02T03:04:05Z"}`+"\n"; got != want {
		t.Errorf("body = %q, want %q", got, want)
	}
}

func TestWriteJSONUnencodableValueIs500(t *testing.T) {
	rec := httptest.NewRecorder()
	httpx.WriteJSON(rec, http.StatusOK, map[string]any{"ch": make(chan int)})
	if rec.Code != http.StatusInternalServerError {
		t.Errorf("status = %d, want 500", rec.Code)
	}
	if got := rec.Header().Get("Content-Type"); got != httpx.ProblemContentType {
		t.Errorf("Content-Type = %q", got)
	}
}

// Found by the API fuzzer (make api-fuzz): JSON Schema, which the OpenAPI
// documents use, calls any number with a zero fractional part an integer,
// and encoding/json rejected 30.0 and 3e1 for an int.
func TestDecodeJSONAcceptsIntegralNumbersForIntegers(t *testing.T) {
	srv := decodeServer(t)
	for _, body := range []string{
		`{"title":"a.0","duration_seconds":30.0,"meta":{"views":2.0}}`,
		`{"title":"a.0","duration_seconds":3e1,"meta":{"views":0.2E1}}`,
		`{"title":"a.0","duration_seconds":300e-1,"meta":{"views":2}}`,
	} {
		resp := do(t, srv, request{method: http.MethodPost, path: "/videos", body: body,
			headers: map[string]string{"Content-Type": "application/json"}})
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("%s: status = %d: %s", body, resp.StatusCode, resp.body)
		}
		var got createVideo
		if err := json.Unmarshal(resp.body, &got); err != nil || got.Duration != 30 || got.Meta.Views != 2 || got.Title != "a.0" {
			t.Errorf("%s: echo = %s (%v)", body, resp.body, err)
		}
	}
	for _, body := range []string{
		`{"duration_seconds":30.5}`,
		`{"duration_seconds":3.05e1}`,
		`{"duration_seconds":1e19}`,
		`{"duration_seconds":1e999999999}`,
	} {
		resp := do(t, srv, request{method: http.MethodPost, path: "/videos", body: body,
			headers: map[string]string{"Content-Type": "application/json"}})
		if prob := problem(t, resp, http.StatusBadRequest); len(prob.Errors) != 1 || prob.Errors[0].Field != "duration_seconds" {
			t.Errorf("%s: errors = %+v, want one naming duration_seconds", body, prob.Errors)
		}
	}
}

// Found by the API fuzzer (make api-fuzz): encoding/json leaves a field as
// it was for a null member, so {"description": null} passed for a string.
func TestDecodeJSONRejectsNullForNonNullableFields(t *testing.T) {
	srv := decodeServer(t)
	for body, field := range map[string]string{
		`{"title":null}`:            "title",
		`{"Title":null}`:            "title",
		`{"duration_seconds":null}`: "duration_seconds",
		`{"owner_id":null}`:         "owner_id",
		`{"meta":null}`:             "meta",
		`{"meta":{"views":null}}`:   "meta.views",
		`{"title":"a","meta":{"views":1},"duration_seconds": null }`: "duration_seconds",
	} {
		resp := do(t, srv, request{method: http.MethodPost, path: "/videos", body: body,
			headers: map[string]string{"Content-Type": "application/json"}})
		prob := problem(t, resp, http.StatusBadRequest)
		if len(prob.Errors) != 1 || prob.Errors[0].Field != field || prob.Errors[0].Detail != "must not be null" {
			t.Errorf("%s: errors = %+v, want %q must not be null", body, prob.Errors, field)
		}
	}
	// A slice holds null (as nil).
	resp := do(t, srv, request{method: http.MethodPost, path: "/videos", body: `{"title":"a","tags":null}`,
		headers: map[string]string{"Content-Type": "application/json"}})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("null slice: status = %d: %s", resp.StatusCode, resp.body)
	}
}
