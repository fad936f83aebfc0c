package app_test

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	userv1 "github.com/vidstream/vidstream/services/api/user/v1"
	"github.com/vidstream/vidstream/services/internal/database/databasetest"
	"github.com/vidstream/vidstream/services/internal/grpcx"
	"github.com/vidstream/vidstream/services/internal/telemetry"
)

func TestAccountLifecycle(t *testing.T) {
	for _, d := range databasetest.Backends() {
		t.Run(d.String(), func(t *testing.T) {
			dbURL := databasetest.URL(t, d)
			_, c := startApp(t, testConfig(t, dbURL))

			u := c.register("  Ann@Example.com ", "correct horse", "Ann")
			if _, err := uuid.Parse(u.ID); err != nil || u.Email != "ann@example.com" || u.DisplayName != "Ann" || u.CreatedAt.IsZero() {
				t.Fatalf("created user = %+v", u)
			}
			s := c.login("ANN@example.com", "correct horse")
			if s.UserID != u.ID || len(s.Token) != 43 || !s.ExpiresAt.After(time.Now().Add(23*time.Hour)) {
				t.Fatalf("session = %+v", s)
			}

			var me userJSON
			c.request(http.MethodGet, "/v1/users/me", s.Token, nil).want(http.StatusOK).json(&me)
			if me != u {
				t.Errorf("GET /v1/users/me = %+v, want %+v", me, u)
			}
			var profile profileJSON // decoded strictly: no email in a public profile
			c.request(http.MethodGet, "/v1/users/"+u.ID, "", nil).want(http.StatusOK).json(&profile)
			if profile != (profileJSON{ID: u.ID, DisplayName: "Ann"}) {
				t.Errorf("GET /v1/users/{id} = %+v", profile)
			}

			// Logout revokes exactly that token; another session survives.
			other := c.login("ann@example.com", "correct horse")
			c.request(http.MethodDelete, "/v1/sessions/current", s.Token, nil).want(http.StatusNoContent)
			c.request(http.MethodGet, "/v1/users/me", s.Token, nil).want(http.StatusUnauthorized).problem()
			c.request(http.MethodDelete, "/v1/sessions/current", s.Token, nil).want(http.StatusUnauthorized).problem()
			c.request(http.MethodGet, "/v1/users/me", other.Token, nil).want(http.StatusOK)

			// Deleting the account ends every session and frees the email.
			c.request(http.MethodDelete, "/v1/users/me", other.Token, nil).want(http.StatusNoContent)
			c.request(http.MethodGet, "/v1/users/me", other.Token, nil).want(http.StatusUnauthorized).problem()
			c.request(http.MethodGet, "/v1/users/"+u.ID, "", nil).want(http.StatusNotFound).problem()
			c.request(http.MethodPost, "/v1/sessions", "", map[string]string{"email": "ann@example.com", "password": "correct horse"}).
				want(http.StatusUnauthorized).problem()
			// The address can be registered again.
			c.register("ann@example.com", "another horse", "Ann again")
		})
	}
}

func TestErrors(t *testing.T) {
	for _, d := range databasetest.Backends() {
		t.Run(d.String(), func(t *testing.T) {
			dbURL := databasetest.URL(t, d)
			_, c := startApp(t, testConfig(t, dbURL))
			c.register("taken@example.com", "password1", "Taken")
			valid := c.login("taken@example.com", "password1")

			huge := `{"email":"a@example.com","password":"password1","display_name":"` + strings.Repeat("x", 1<<20) + `"}`
			for _, tc := range []struct {
				name          string
				method, path  string
				token         string
				body          any
				status        int
				field         string // must be named in errors[] when set
				detailMention string // must appear in detail when set
			}{
				{name: "malformed JSON", method: "POST", path: "/v1/users", body: `{"email":`, status: 400},
				{name: "syntax error", method: "POST", path: "/v1/users", body: `{"email" "x"}`, status: 400, detailMention: "offset"},
				{name: "empty body", method: "POST", path: "/v1/users", body: ``, status: 400},
				{name: "trailing data", method: "POST", path: "/v1/sessions", body: `{"email":"a@b.c","password":"x"} {}`, status: 400},
				{name: "unknown field", method: "POST", path: "/v1/users", body: `{"email":"a@example.com","password":"password1","display_name":"A","admin":true}`, status: 400, field: "admin"},
				{name: "wrong type", method: "POST", path: "/v1/users", body: `{"email":"a@example.com","password":12345678,"display_name":"A"}`, status: 400, field: "password"},
				{name: "not an object", method: "POST", path: "/v1/sessions", body: `[1,2]`, status: 400},
				{name: "oversized body", method: "POST", path: "/v1/users", body: huge, status: 413},
				{name: "invalid email", method: "POST", path: "/v1/users", body: map[string]string{"email": "not-an-email", "password": "password1", "display_name": "A"}, status: 400, field: "email"},
				{name: "short password", method: "POST", path: "/v1/users", body: map[string]string{"email": "a@example.com", "password": "1234567", "display_name": "A"}, status: 400, field: "password"},
				{name: "empty display_name", method: "POST", path: "/v1/users", body: map[string]string{"email": "a@example.com", "password": "password1", "display_name": " "}, status: 400, field: "display_name"},
				{name: "missing display_name", method: "POST", path: "/v1/users", body: map[string]string{"email": "a@example.com", "password": "password1"}, status: 400, field: "display_name"},
				{name: "duplicate email", method: "POST", path: "/v1/users", body: map[string]string{"email": "taken@example.com", "password": "password1", "display_name": "B"}, status: 409, field: "email"},
				{name: "duplicate email, case variant", method: "POST", path: "/v1/users", body: map[string]string{"email": " TAKEN@Example.COM", "password": "password1", "display_name": "B"}, status: 409, field: "email"},
				{name: "wrong password", method: "POST", path: "/v1/sessions", body: map[string]string{"email": "taken@example.com", "password": "password2"}, status: 401},
				{name: "unknown email", method: "POST", path: "/v1/sessions", body: map[string]string{"email": "nobody@example.com", "password": "password1"}, status: 401},
				{name: "login without password", method: "POST", path: "/v1/sessions", body: map[string]string{"email": "taken@example.com"}, status: 400, field: "password"},
				{name: "bad UUID", method: "GET", path: "/v1/users/not-a-uuid", status: 400, field: "id"},
				{name: "non-canonical UUID", method: "GET", path: "/v1/users/" + strings.ReplaceAll(uuid.NewString(), "-", ""), status: 400, field: "id"},
				{name: "unknown id", method: "GET", path: "/v1/users/" + uuid.NewString(), status: 404},
				{name: "missing token", method: "GET", path: "/v1/users/me", status: 401},
				{name: "unknown token", method: "GET", path: "/v1/users/me", token: strings.Repeat("A", 43), status: 401},
				{name: "malformed token", method: "DELETE", path: "/v1/users/me", token: "a b", status: 401},
				{name: "logout without token", method: "DELETE", path: "/v1/sessions/current", status: 401},
				{name: "unknown route", method: "GET", path: "/v1/nope", status: 404},
				{name: "wrong method", method: "PUT", path: "/v1/users", token: valid.Token, status: 405},
			} {
				t.Run(tc.name, func(t *testing.T) {
					r := c.request(tc.method, tc.path, tc.token, tc.body).want(tc.status)
					p := r.problem()
					if tc.field != "" && !hasField(p, tc.field) {
						t.Errorf("problem does not name field %q: %s", tc.field, r.body)
					}
					if tc.detailMention != "" && !strings.Contains(p.Detail, tc.detailMention) {
						t.Errorf("detail %q does not mention %q", p.Detail, tc.detailMention)
					}
					if tc.status == 401 && r.header.Get("WWW-Authenticate") == "" {
						t.Error("401 without a WWW-Authenticate challenge")
					}
				})
			}

			t.Run("wrong password and unknown email answer alike", func(t *testing.T) {
				a := c.request("POST", "/v1/sessions", "", map[string]string{"email": "taken@example.com", "password": "nope-nope"}).want(401).problem()
				b := c.request("POST", "/v1/sessions", "", map[string]string{"email": "ghost@example.com", "password": "nope-nope"}).want(401).problem()
				if a.Detail != b.Detail || a.Type != b.Type {
					t.Errorf("distinguishable answers: %+v vs %+v", a, b)
				}
			})

			t.Run("unsupported media type", func(t *testing.T) {
				req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, c.base+"/v1/users", strings.NewReader(`{}`))
				req.Header.Set("Content-Type", "text/plain")
				r := c.send(req).want(http.StatusUnsupportedMediaType)
				r.problem()
			})
		})
	}
}

func TestLoginThrottled(t *testing.T) {
	for _, d := range databasetest.Backends() {
		t.Run(d.String(), func(t *testing.T) {
			dbURL := databasetest.URL(t, d)
			cfg := testConfig(t, dbURL)
			cfg.LoginMaxFailures = 3
			cfg.LoginFailureWindow = time.Minute
			clk := &clock{t: time.Now()}
			cfg.Now = clk.Now
			_, c := startApp(t, cfg)
			c.register("ann@example.com", "password1", "Ann")

			bad := map[string]string{"email": "ann@example.com", "password": "guess-guess"}
			for range 3 {
				c.request("POST", "/v1/sessions", "", bad).want(http.StatusUnauthorized)
			}
			r := c.request("POST", "/v1/sessions", "", map[string]string{"email": "ann@example.com", "password": "password1"}).
				want(http.StatusTooManyRequests)
			r.problem()
			secs, err := strconv.Atoi(r.header.Get("Retry-After"))
			if err != nil || secs < 1 || secs > 60 {
				t.Errorf("Retry-After = %q, want 1..60 seconds", r.header.Get("Retry-After"))
			}
			clk.Advance(time.Duration(secs) * time.Second)
			c.login("ann@example.com", "password1")
		})
	}
}

func TestExpiredToken(t *testing.T) {
	for _, d := range databasetest.Backends() {
		t.Run(d.String(), func(t *testing.T) {
			dbURL := databasetest.URL(t, d)
			cfg := testConfig(t, dbURL)
			cfg.SessionTTL = time.Hour
			clk := &clock{t: time.Now()}
			cfg.Now = clk.Now
			a, c := startApp(t, cfg)
			c.register("ann@example.com", "password1", "Ann")
			s := c.login("ann@example.com", "password1")

			clk.Advance(time.Hour - time.Second)
			c.request("GET", "/v1/users/me", s.Token, nil).want(http.StatusOK)
			clk.Advance(time.Second)
			c.request("GET", "/v1/users/me", s.Token, nil).want(http.StatusUnauthorized).problem()

			// Other services see the same verdict over gRPC.
			conn, err := grpcx.Dial(a.GRPCAddr(), telemetry.Noop())
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			defer func() { _ = conn.Close() }()
			_, err = userv1.NewUserServiceClient(conn).AuthenticateToken(t.Context(), &userv1.AuthenticateTokenRequest{Token: s.Token})
			if status.Code(err) != codes.Unauthenticated {
				t.Errorf("AuthenticateToken(expired) = %v, want UNAUTHENTICATED", err)
			}
		})
	}
}

// TestGRPC checks the gRPC port of the running app against tokens and users
// made over REST: one domain behind both transports.
func TestGRPC(t *testing.T) {
	for _, d := range databasetest.Backends() {
		t.Run(d.String(), func(t *testing.T) {
			dbURL := databasetest.URL(t, d)
			a, c := startApp(t, testConfig(t, dbURL))
			u := c.register("ann@example.com", "password1", "Ann")
			s := c.login("ann@example.com", "password1")

			conn, err := grpcx.Dial(a.GRPCAddr(), telemetry.Noop())
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			defer func() { _ = conn.Close() }()
			users := userv1.NewUserServiceClient(conn)
			ctx := t.Context()

			h, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
			if err != nil || h.GetStatus() != healthpb.HealthCheckResponse_SERVING {
				t.Errorf("health = %v, %v; want SERVING", h.GetStatus(), err)
			}
			got, err := users.AuthenticateToken(ctx, &userv1.AuthenticateTokenRequest{Token: s.Token})
			if err != nil || got.GetUserId() != u.ID || !got.GetExpiresAt().AsTime().Equal(s.ExpiresAt) {
				t.Errorf("AuthenticateToken = %v, %v", got, err)
			}
			gu, err := users.GetUser(ctx, &userv1.GetUserRequest{Id: u.ID})
			if err != nil || gu.GetUser().GetDisplayName() != "Ann" || !gu.GetUser().GetCreatedAt().AsTime().Equal(u.CreatedAt) {
				t.Errorf("GetUser = %v, %v", gu, err)
			}
			for _, tc := range []struct {
				name string
				call func() error
				want codes.Code
			}{
				{"empty token", func() error {
					_, err := users.AuthenticateToken(ctx, &userv1.AuthenticateTokenRequest{})
					return err
				}, codes.InvalidArgument},
				{"bad token", func() error {
					_, err := users.AuthenticateToken(ctx, &userv1.AuthenticateTokenRequest{Token: "bad"})
					return err
				}, codes.Unauthenticated},
				{"bad uuid", func() error {
					_, err := users.GetUser(ctx, &userv1.GetUserRequest{Id: "x"})
					return err
				}, codes.InvalidArgument},
				{"unknown user", func() error {
					_, err := users.GetUser(ctx, &userv1.GetUserRequest{Id: uuid.NewString()})
					return err
				}, codes.NotFound},
			} {
				if err := tc.call(); status.Code(err) != tc.want {
					t.Errorf("%s: %v, want %s", tc.name, err, tc.want)
				}
			}

			// Logout over REST is seen by gRPC callers at once.
			c.request(http.MethodDelete, "/v1/sessions/current", s.Token, nil).want(http.StatusNoContent)
			if _, err := users.AuthenticateToken(ctx, &userv1.AuthenticateTokenRequest{Token: s.Token}); status.Code(err) != codes.Unauthenticated {
				t.Errorf("AuthenticateToken after logout = %v, want UNAUTHENTICATED", err)
			}
		})
	}
}

func TestOperationalEndpoints(t *testing.T) {
	_, c := startApp(t, testConfig(t, databasetest.URL(t, "sqlite")))
	var h struct {
		Status string            `json:"status"`
		Checks map[string]string `json:"checks"`
	}
	c.request("GET", "/healthz", "", nil).want(http.StatusOK).json(&h)
	c.request("GET", "/readyz", "", nil).want(http.StatusOK).json(&h)
	if h.Status != "ok" || h.Checks["database"] != "ok" {
		t.Errorf("/readyz = %+v, want the database check ok", h)
	}
	c.request("GET", "/metrics", "", nil).want(http.StatusOK)
	r := c.request("GET", "/openapi.json", "", nil).want(http.StatusOK)
	var doc struct {
		OpenAPI string `json:"openapi"`
	}
	if err := json.Unmarshal(r.body, &doc); err != nil || !strings.HasPrefix(doc.OpenAPI, "3.1") {
		t.Errorf("/openapi.json: openapi = %q, %v", doc.OpenAPI, err)
	}
}

func TestNewFailsOnBadConfig(t *testing.T) {
	for name, cfg := range map[string]func() (string, string){
		"unsupported database": func() (string, string) { return "mysql://x", "127.0.0.1:0" },
		"bad address":          func() (string, string) { return databasetest.URL(t, "sqlite"), "256.0.0.1:0" },
	} {
		t.Run(name, func(t *testing.T) {
			dbURL, addr := cfg()
			c := testConfig(t, dbURL)
			c.HTTPAddr = addr
			if _, err := newApp(t, c); err == nil {
				t.Error("New succeeded")
			}
		})
	}
}
