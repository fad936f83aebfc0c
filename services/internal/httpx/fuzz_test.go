package httpx_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/vidstream/vidstream/services/internal/apperr"
	"github.com/vidstream/vidstream/services/internal/httpx"
)

// fuzzTarget has a field of each shape DecodeJSON meets in the services.
type fuzzTarget struct {
	S   string            `json:"s"`
	I   int               `json:"i"`
	U   uint8             `json:"u"`
	F   float64           `json:"f"`
	B   bool              `json:"b"`
	P   *string           `json:"p"`
	L   []int             `json:"l"`
	M   map[string]string `json:"m"`
	ID  uuid.UUID         `json:"id"`
	At  time.Time         `json:"at"`
	Sub struct {
		N []struct {
			X int `json:"x"`
		} `json:"n"`
	} `json:"sub"`
}

// FuzzDecodeJSON checks that no body makes DecodeJSON panic, and that every
// rejection is a client error: an apperr Invalid answered with a 4xx.
func FuzzDecodeJSON(f *testing.F) {
	for _, seed := range []string{
		``, `{}`, `null`, `[]`, `"x"`, `{"s":"a","i":1,"u":2,"f":1.5,"b":true,"p":null}`,
		`{"l":[1,2],"m":{"k":"v"}}`, `{"id":"123e4567-e89b-12d3-a456-426614174000"}`,
		`{"at":"2025-01-02T03:04:05Z"}`, `{"sub":{"n":[{"x":1}]}}`, `{"i":1e400}`, `{"u":256}`,
		`{"unknown":1}`, `{"s":1}`, `{} {}`, `{"s":"\ud800"}`, `{"at":"yesterday"}`, `{"id":"nope"}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		var dst fuzzTarget
		err := httpx.DecodeJSON(rec, req, &dst)
		if err == nil {
			return
		}
		if kind := apperr.KindOf(err); kind != apperr.Invalid {
			t.Fatalf("DecodeJSON(%q) error kind = %v, want invalid: %v", body, kind, err)
		}
		httpx.WriteError(rec, req, err)
		if rec.Code < 400 || rec.Code > 499 {
			t.Fatalf("DecodeJSON(%q) answered %d, want 4xx: %v", body, rec.Code, err)
		}
	})
}
