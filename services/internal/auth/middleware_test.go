package auth_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/vidstream/vidstream/services/internal/apperr"
	"github.com/vidstream/vidstream/services/internal/auth"
	"github.com/vidstream/vidstream/services/internal/httpx"
	"github.com/vidstream/vidstream/services/internal/telemetry"
)

func TestMiddleware(t *testing.T) {
	userID := uuid.New()
	a := auth.AuthenticatorFunc(func(_ context.Context, token string) (auth.Principal, error) {
		switch token {
		case "good":
			return auth.Principal{UserID: userID, Token: token, ExpiresAt: time.Now().Add(time.Hour)}, nil
		case "down":
			return auth.Principal{}, apperr.New(apperr.Unavailable, "authentication is temporarily unavailable")
		default:
			return auth.Principal{}, apperr.New(apperr.Unauthenticated, "invalid or expired token")
		}
	})
	r := httpx.NewRouter(telemetry.Noop(), "test")
	r.With(auth.Middleware(a)).Get("/me", func(w http.ResponseWriter, r *http.Request) {
		p, err := auth.Require(r.Context())
		if err != nil {
			httpx.WriteError(w, r, err)
			return
		}
		httpx.WriteJSON(w, http.StatusOK, map[string]string{"user_id": p.UserID.String(), "token": p.Token})
	})
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)

	tests := []struct {
		name   string
		header string
		status int
	}{
		{"valid", "Bearer good", 200},
		{"missing header", "", 401},
		{"wrong scheme", "Basic Z29vZA==", 401},
		{"malformed token", "Bearer go od", 401},
		{"rejected token", "Bearer bad", 401},
		{"authenticator unavailable", "Bearer down", 503},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/me", nil)
			if err != nil {
				t.Fatal(err)
			}
			if tt.header != "" {
				req.Header.Set("Authorization", tt.header)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = resp.Body.Close() }()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status {
				t.Fatalf("status = %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
			if tt.status == 200 {
				var got map[string]string
				if err := json.Unmarshal(body, &got); err != nil || got["user_id"] != userID.String() || got["token"] != "good" {
					t.Errorf("handler saw %s (%v)", body, err)
				}
				return
			}
			if ct := resp.Header.Get("Content-Type"); ct != httpx.ProblemContentType {
				t.Errorf("Content-Type = %q, want problem+json", ct)
			}
			if tt.status == 401 && resp.Header.Get("WWW-Authenticate") != "Bearer" {
				t.Errorf("401 without WWW-Authenticate: Bearer")
			}
		})
	}
}

func TestRequireWithoutMiddlewareFailsClosed(t *testing.T) {
	if _, err := auth.Require(context.Background()); apperr.KindOf(err) != apperr.Unauthenticated {
		t.Errorf("Require = %v, want Unauthenticated", err)
	}
	p := auth.Principal{UserID: uuid.New()}
	got, err := auth.Require(auth.WithPrincipal(context.Background(), p))
	if err != nil || got != p {
		t.Errorf("Require = %+v, %v; want %+v", got, err, p)
	}
}
