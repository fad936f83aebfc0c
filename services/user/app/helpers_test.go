package app_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vidstream/vidstream/services/internal/httpx"
	"github.com/vidstream/vidstream/services/internal/loopback"
	"github.com/vidstream/vidstream/services/internal/service"
	"github.com/vidstream/vidstream/services/internal/service/servicetest"
	"github.com/vidstream/vidstream/services/internal/telemetry"
	"github.com/vidstream/vidstream/services/internal/telemetry/telemetrytest"
	"github.com/vidstream/vidstream/services/user/app"
	"github.com/vidstream/vidstream/services/user/internal/domain"
)

// testConfig is the service on ephemeral ports with a cheap argon2id cost
// (the tests exercise the flow, not the hash strength). Its Kafka broker
// address refuses connections: tests that are not about events must not
// publish into whatever broker runs on the default port; the service serves
// regardless, with its events waiting in the outbox.
func testConfig(t *testing.T, dbURL string) app.Config {
	t.Helper()
	p := domain.Argon2Params{MemoryKiB: 8, Iterations: 1, Parallelism: 1}
	return app.Config{
		Base:              servicetest.Base(t, dbURL, []string{loopback.FreeAddr(t)}),
		Argon2MemoryKiB:   p.MemoryKiB,
		Argon2Iterations:  p.Iterations,
		Argon2Parallelism: p.Parallelism,
	}
}

// databaseURL returns a fresh, empty database of dialect d as a URL, since
// app.New opens (and migrates) the database itself.
// startApp runs the user service on 127.0.0.1 with its own telemetry,
// waits until /readyz says ready, and stops it (checking the clean exit)
// when the test ends.
func startApp(t *testing.T, cfg app.Config) (*service.App, *client) {
	t.Helper()
	p, _ := telemetrytest.New(t)
	return startAppWith(t, cfg, p)
}

// startAppWith is startApp with the given telemetry providers.
func startAppWith(t *testing.T, cfg app.Config, p telemetry.Providers) (*service.App, *client) {
	t.Helper()
	a, err := app.New(t.Context(), cfg, p)
	if err != nil {
		t.Fatalf("app.New: %v", err)
	}
	servicetest.Run(t, "user", a.Run)
	c := &client{t: t, base: "http://" + a.HTTPAddr(), http: &http.Client{Timeout: 10 * time.Second}}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := c.http.Get(c.base + "/readyz")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready within 10s (last: %v)", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return a, c
}

type client struct {
	t    *testing.T
	base string
	http *http.Client
}

type response struct {
	t      *testing.T
	status int
	header http.Header
	body   []byte
}

// request sends body verbatim (a string) or JSON-encoded (anything else)
// with Content-Type application/json; every answer must be < 500, since a
// 5xx from client input is a bug.
func (c *client) request(method, path, token string, body any) *response {
	c.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			c.t.Fatalf("encode body: %v", err)
		}
		r = strings.NewReader(string(data))
	}
	req, err := http.NewRequestWithContext(c.t.Context(), method, c.base+path, r)
	if err != nil {
		c.t.Fatalf("new request: %v", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return c.send(req)
}

func (c *client) send(req *http.Request) *response {
	c.t.Helper()
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("%s %s: read body: %v", req.Method, req.URL.Path, err)
	}
	if resp.StatusCode >= 500 {
		c.t.Errorf("%s %s = %d: %s", req.Method, req.URL.Path, resp.StatusCode, data)
	}
	return &response{t: c.t, status: resp.StatusCode, header: resp.Header, body: data}
}

func (r *response) want(status int) *response {
	r.t.Helper()
	if r.status != status {
		r.t.Fatalf("status = %d, want %d; body: %s", r.status, status, r.body)
	}
	return r
}

func (r *response) json(dst any) {
	r.t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		r.t.Errorf("Content-Type = %q, want application/json", ct)
	}
	dec := json.NewDecoder(strings.NewReader(string(r.body)))
	dec.DisallowUnknownFields() // the response must be exactly the contract
	if err := dec.Decode(dst); err != nil {
		r.t.Fatalf("decode %s: %v", r.body, err)
	}
}

// problem checks an error response: problem+json with the right status.
func (r *response) problem() httpx.Problem {
	r.t.Helper()
	if ct := r.header.Get("Content-Type"); ct != httpx.ProblemContentType {
		r.t.Errorf("Content-Type = %q, want %s", ct, httpx.ProblemContentType)
	}
	var p httpx.Problem
	if err := json.Unmarshal(r.body, &p); err != nil {
		r.t.Fatalf("decode problem %s: %v", r.body, err)
	}
	if p.Status != r.status {
		r.t.Errorf("problem status %d != HTTP status %d", p.Status, r.status)
	}
	return p
}

func hasField(p httpx.Problem, field string) bool {
	for _, f := range p.Errors {
		if f.Field == field {
			return true
		}
	}
	return false
}

type userJSON struct {
	ID          string    `json:"id"`
	Email       string    `json:"email"`
	DisplayName string    `json:"display_name"`
	CreatedAt   time.Time `json:"created_at"`
}

type profileJSON struct {
	ID          string `json:"id"`
	DisplayName string `json:"display_name"`
}

type sessionJSON struct {
	Token     string    `json:"token"`
	UserID    string    `json:"user_id"`
	ExpiresAt time.Time `json:"expires_at"`
}

func (c *client) register(email, password, name string) userJSON {
	c.t.Helper()
	var u userJSON
	c.request(http.MethodPost, "/v1/users", "", map[string]string{"email": email, "password": password, "display_name": name}).
		want(http.StatusCreated).json(&u)
	return u
}

func (c *client) login(email, password string) sessionJSON {
	c.t.Helper()
	var s sessionJSON
	c.request(http.MethodPost, "/v1/sessions", "", map[string]string{"email": email, "password": password}).
		want(http.StatusCreated).json(&s)
	return s
}

// clock is a settable app.Config.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newApp(t *testing.T, cfg app.Config) (*service.App, error) {
	t.Helper()
	p, _ := telemetrytest.New(t)
	return app.New(t.Context(), cfg, p)
}
