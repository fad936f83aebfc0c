package httpx_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/vidstream/vidstream/services/internal/apperr"
	"github.com/vidstream/vidstream/services/internal/httpx"
	"github.com/vidstream/vidstream/services/internal/telemetry"
)

func TestPathUUID(t *testing.T) {
	want := uuid.MustParse("123e4567-e89b-12d3-a456-426614174000")
	r := httpx.NewRouter(telemetry.Noop(), "test")
	r.Get("/things/{id}", func(w http.ResponseWriter, r *http.Request) {
		id, err := httpx.PathUUID(r, "id")
		if err != nil {
			httpx.WriteError(w, r, err)
			return
		}
		httpx.WriteJSON(w, http.StatusOK, id)
	})
	srv := serve(t, r)

	if resp := do(t, srv, request{path: "/things/" + want.String()}); resp.StatusCode != http.StatusOK || !strings.Contains(string(resp.body), want.String()) {
		t.Errorf("canonical UUID: %d %s", resp.StatusCode, resp.body)
	}
	for _, bad := range []string{"nope", "123e4567e89b12d3a456426614174000", "urn:uuid:" + want.String(), want.String() + "0"} {
		t.Run(bad, func(t *testing.T) {
			prob := problem(t, do(t, srv, request{path: "/things/" + bad}), http.StatusBadRequest)
			if len(prob.Errors) != 1 || prob.Errors[0].Field != "id" {
				t.Errorf("errors = %+v, want one naming id", prob.Errors)
			}
		})
	}
}

func TestBearerToken(t *testing.T) {
	tests := []struct {
		header string
		want   string // "" means an Unauthenticated error
	}{
		{"Bearer abc.DEF-123_~+/==", "abc.DEF-123_~+/=="},
		{"bearer lower", "lower"},
		{"BEARER  extra-space", "extra-space"},
		{"", ""},
		{"Bearer", ""},
		{"Bearer ", ""},
		{"Basic dXNlcjpwdw==", ""},
		{"Bearer two words", ""},
		{"Bearer ===", ""},
		{"Bearer tok\x00en", ""},
		{"Bearertoken", ""},
	}
	for _, tt := range tests {
		t.Run(tt.header, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			if tt.header != "" {
				r.Header.Set("Authorization", tt.header)
			}
			got, err := httpx.BearerToken(r)
			if tt.want == "" {
				if apperr.KindOf(err) != apperr.Unauthenticated {
					t.Errorf("BearerToken = %q, %v; want an Unauthenticated error", got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("BearerToken = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestQueryInt(t *testing.T) {
	tests := []struct {
		query   string
		want    int
		wantErr bool
	}{
		{"", 20, false},
		{"limit=", 0, true},
		{"other=1", 20, false},
		{"limit=1", 1, false},
		{"limit=100", 100, false},
		{"limit=0", 0, true},
		{"limit=101", 0, true},
		{"limit=ten", 0, true},
		{"limit=1.5", 0, true},
		{"limit=99999999999999999999", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/?"+tt.query, nil)
			got, err := httpx.QueryInt(r, "limit", 20, 1, 100)
			if tt.wantErr {
				e, ok := apperr.As(err)
				if !ok || e.Kind != apperr.Invalid || len(e.Fields) != 1 || e.Fields[0].Field != "limit" {
					t.Errorf("QueryInt = %d, %v; want Invalid naming limit", got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("QueryInt = %d, %v; want %d", got, err, tt.want)
			}
		})
	}
}
