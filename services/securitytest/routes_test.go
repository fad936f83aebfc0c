package securitytest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"

	"github.com/vidstream/vidstream/services/internal/kafkabus/kafkatest"
	"github.com/vidstream/vidstream/services/internal/peerauth"
	"github.com/vidstream/vidstream/services/internal/service"
	"github.com/vidstream/vidstream/services/internal/service/servicetest"
	"github.com/vidstream/vidstream/services/internal/telemetry"
	userapp "github.com/vidstream/vidstream/services/user/app"
	videoapp "github.com/vidstream/vidstream/services/video/app"
	historyapp "github.com/vidstream/vidstream/services/watch-history/app"
)

// public are the mutating routes anyone may call: signing up and logging in.
var public = map[string]bool{
	"POST /v1/users":    true,
	"POST /v1/sessions": true,
}

// clock is the user service's clock, which the test moves forward to expire
// tokens without waiting.
type clock struct{ offset atomic.Int64 }

func (c *clock) now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *clock) advance(d time.Duration) { c.offset.Add(int64(d)) }

type system struct {
	client  *http.Client
	userURL string
}

// reply is what a request got.
type reply struct {
	StatusCode int
	Header     http.Header
}

func (s system) do(t *testing.T, method, url, authorization string, body any) (reply, []byte) {
	t.Helper()
	var buf bytes.Buffer
	if body != nil {
		if err := json.NewEncoder(&buf).Encode(body); err != nil {
			t.Fatal(err)
		}
	}
	req, err := http.NewRequestWithContext(t.Context(), method, url, &buf)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer func() { _ = resp.Body.Close() }()
	var out bytes.Buffer
	_, _ = out.ReadFrom(resp.Body)
	return reply{StatusCode: resp.StatusCode, Header: resp.Header}, out.Bytes()
}

// token signs up a new user and logs in.
func (s system) token(t *testing.T) string {
	t.Helper()
	email := "u-" + uuid.NewString() + "@example.com"
	const password = "correct horse battery"
	if resp, body := s.do(t, http.MethodPost, s.userURL+"/v1/users", "", map[string]string{
		"email": email, "password": password, "display_name": "Viewer",
	}); resp.StatusCode != http.StatusCreated {
		t.Fatalf("sign up: %d %s", resp.StatusCode, body)
	}
	resp, body := s.do(t, http.MethodPost, s.userURL+"/v1/sessions", "", map[string]string{"email": email, "password": password})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("log in: %d %s", resp.StatusCode, body)
	}
	var sess struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(body, &sess); err != nil || sess.Token == "" {
		t.Fatalf("log in: %s", body)
	}
	return sess.Token
}

type route struct {
	service, baseURL, method, pattern string
}

var param = regexp.MustCompile(`\{[^}]+\}`)

// path fills every {param} with a fresh UUID, which every id in the API is.
func (r route) path() string {
	return param.ReplaceAllStringFunc(r.pattern, func(string) string { return uuid.NewString() })
}

func (r route) String() string { return r.service + " " + r.method + " " + r.pattern }

// TestEveryMutatingRouteRejectsBadTokens walks every route of every
// service's router (chi.Walk, so a route added later is covered without
// touching this test) and sends each mutating one a missing, malformed,
// expired and revoked token: each must answer 401 problem+json with a
// Bearer challenge. Tokens are checked by the real user service, over gRPC
// for video and watch-history.
func TestEveryMutatingRouteRejectsBadTokens(t *testing.T) {
	brokers := kafkatest.Broker(t)
	dir := t.TempDir()
	var clk clock
	ua, err := userapp.New(t.Context(), userapp.Config{
		Base:            withServiceKeys(t, "user", servicetest.Base(t, "sqlite://"+filepath.Join(dir, "user.db"), brokers)),
		Argon2MemoryKiB: 8, Argon2Iterations: 1, Argon2Parallelism: 1,
		SessionTTL: time.Hour,
		Now:        clk.now,
	}, telemetry.Noop())
	if err != nil {
		t.Fatal(err)
	}
	servicetest.Run(t, "user", ua.Run)
	va, err := videoapp.New(t.Context(), videoapp.Config{
		Base: withServiceKeys(t, "video", servicetest.Base(t, "sqlite://"+filepath.Join(dir, "video.db"), brokers)), UserGRPCAddr: ua.GRPCAddr(),
	}, telemetry.Noop())
	if err != nil {
		t.Fatal(err)
	}
	servicetest.Run(t, "video", va.Run)
	ha, err := historyapp.New(t.Context(), historyapp.Config{
		Base:         withServiceKeys(t, "watch-history", servicetest.Base(t, "sqlite://"+filepath.Join(dir, "history.db"), brokers)),
		UserGRPCAddr: ua.GRPCAddr(), VideoGRPCAddr: va.GRPCAddr(),
	}, telemetry.Noop())
	if err != nil {
		t.Fatal(err)
	}
	servicetest.Run(t, "watch-history", ha.Run)
	s := system{client: &http.Client{Timeout: 30 * time.Second}, userURL: "http://" + ua.HTTPAddr()}

	var mutating []route
	for name, a := range map[string]*service.App{"user": ua, "video": va, "watch-history": ha} {
		if a.Routes() == nil {
			t.Fatalf("%s: no chi router to walk", name)
		}
		err := chi.Walk(a.Routes(), func(method, pattern string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
			switch method {
			case http.MethodGet, http.MethodHead, http.MethodOptions:
				return nil
			}
			if !public[method+" "+pattern] {
				mutating = append(mutating, route{name, "http://" + a.HTTPAddr(), method, pattern})
			}
			return nil
		})
		if err != nil {
			t.Fatalf("walk %s: %v", name, err)
		}
	}
	// user: DELETE /v1/users/me, DELETE /v1/sessions/current; video: POST,
	// PATCH, DELETE; watch-history: PUT, DELETE. Fewer means the walk
	// missed routes.
	if len(mutating) < 7 {
		t.Fatalf("found %d mutating routes, want at least 7: %v", len(mutating), mutating)
	}

	// Wait until the services are ready to check tokens.
	kafkatest.Eventually(t, func() error {
		for _, u := range []string{ua.HTTPAddr(), va.HTTPAddr(), ha.HTTPAddr()} {
			resp, err := s.client.Get("http://" + u + "/readyz")
			if err != nil {
				return err
			}
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("%s: readyz %d", u, resp.StatusCode)
			}
		}
		return nil
	})

	expired := s.token(t)
	clk.advance(2 * time.Hour) // past SessionTTL: expired in the user service's eyes
	revoked := s.token(t)
	if resp, body := s.do(t, http.MethodDelete, s.userURL+"/v1/sessions/current", "Bearer "+revoked, nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("log out: %d %s", resp.StatusCode, body)
	}

	// The calls between services pass east-west authentication with the
	// production allow-lists: creating a video has video ask user about
	// the token, reporting progress has watch-history ask user and video.
	owner := s.token(t)
	resp, body := s.do(t, http.MethodPost, "http://"+va.HTTPAddr()+"/v1/videos", "Bearer "+owner, map[string]any{
		"title": "Film", "description": "", "kind": "movie", "duration_seconds": 600,
	})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create video (video → user): %d %s", resp.StatusCode, body)
	}
	var film struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(body, &film); err != nil {
		t.Fatal(err)
	}
	resp, body = s.do(t, http.MethodPut, "http://"+ha.HTTPAddr()+"/v1/history/"+film.ID, "Bearer "+owner, map[string]any{"position_seconds": 10})
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusCreated {
		t.Fatalf("report progress (watch-history → user, video): %d %s", resp.StatusCode, body)
	}

	bad := []struct{ name, authorization string }{
		{"missing", ""},
		{"malformed: not Bearer", "Basic dXNlcjpwYXNz"},
		{"malformed: empty Bearer", "Bearer "},
		{"malformed: garbage", "Bearer not a token!"},
		{"malformed: unknown token", "Bearer " + strings.Repeat("A", 43)},
		{"expired", "Bearer " + expired},
		{"revoked", "Bearer " + revoked},
	}
	for _, r := range mutating {
		t.Run(r.String(), func(t *testing.T) {
			for _, b := range bad {
				resp, body := s.do(t, r.method, r.baseURL+r.path(), b.authorization, map[string]any{})
				if resp.StatusCode != http.StatusUnauthorized {
					t.Errorf("%s token: %d %s, want 401", b.name, resp.StatusCode, body)
					continue
				}
				if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
					t.Errorf("%s token: Content-Type %q, want problem+json", b.name, ct)
				}
				if resp.Header.Get("WWW-Authenticate") == "" {
					t.Errorf("%s token: no WWW-Authenticate challenge", b.name)
				}
			}
			// The control: a valid token gets past authentication, so the
			// 401s above are about the tokens, not the route.
			resp, body := s.do(t, r.method, r.baseURL+r.path(), "Bearer "+s.token(t), map[string]any{})
			if resp.StatusCode == http.StatusUnauthorized {
				t.Errorf("valid token: 401 %s", body)
			}
		})
	}
}

// keys are one Ed25519 key per service, shared by the test's services.
var keys = func() map[string][2]string {
	out := map[string][2]string{}
	for _, name := range []string{"user", "video", "watch-history"} {
		_, private, public, err := peerauth.GenerateKey()
		if err != nil {
			panic(err)
		}
		out[name] = [2]string{private, public}
	}
	return out
}()

// withServiceKeys turns east-west authentication on for service name, as
// in production: its own key, every service's public key.
func withServiceKeys(t *testing.T, name string, b service.Base) service.Base {
	t.Helper()
	var peers []string
	for n, k := range keys {
		peers = append(peers, n+"="+k[1])
	}
	b.ServiceAuth, b.ServiceKey, b.ServicePeers = service.ServiceAuthRequired, keys[name][0], strings.Join(peers, ",")
	return b
}
