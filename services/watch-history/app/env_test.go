package app_test

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/vidstream/vidstream/services/internal/database"
	"github.com/vidstream/vidstream/services/internal/database/databasetest"
	"github.com/vidstream/vidstream/services/internal/httpx/httpxtest"
	"github.com/vidstream/vidstream/services/internal/kafkabus/kafkatest"
	"github.com/vidstream/vidstream/services/internal/service/servicetest"
	"github.com/vidstream/vidstream/services/internal/telemetry"
	userapp "github.com/vidstream/vidstream/services/user/app"
	videoapp "github.com/vidstream/vidstream/services/video/app"
	"github.com/vidstream/vidstream/services/watch-history/app"
)

// env is the real user, video and watch-history services, in this process,
// on 127.0.0.1 ephemeral ports, each with its own database, and a Kafka
// broker (kfake unless a real cluster is configured).
type env struct {
	userURL     string
	videoURL    string
	historyURL  string
	historyGRPC string
	userGRPC    string
	videoGRPC   string
	brokers     []string
	client      *httpxtest.Client
}

// backend returns the URL of a fresh, empty database for watch history.
type backend func(t *testing.T) string

func sqliteBackend(t *testing.T) string { return databasetest.URL(t, database.SQLite) }

// postgresBackend creates a database on VIDSTREAM_TEST_POSTGRES_URL's server
// (dropped after the test); it skips, or fails when CI=true, without one.
func postgresBackend(t *testing.T) string { return databasetest.URL(t, database.Postgres) }

// backends are the databases watch history supports.
var backends = []struct {
	name string
	db   backend
}{{"sqlite", sqliteBackend}, {"postgres", postgresBackend}}

// newEnv starts all three services on a fresh broker.
func newEnv(t *testing.T, db backend) *env {
	t.Helper()
	e := startDependencies(t, kafkatest.Broker(t))
	e.startHistory(t, historyConfig(t, e, db(t)), telemetry.Noop())
	return e
}

// startDependencies starts the user and video services watch history calls.
// They publish to brokers and the video service's view counter joins a
// consumer group unique to the test: left at their defaults they would talk
// to whatever listens on the development broker's port.
func startDependencies(t *testing.T, brokers []string) *env {
	t.Helper()
	ua, err := userapp.New(t.Context(), userapp.Config{
		Base: servicetest.Base(t, "sqlite://"+filepath.Join(t.TempDir(), "user.db"), brokers),
	}, telemetry.Noop())
	if err != nil {
		t.Fatalf("start user service: %v", err)
	}
	servicetest.Run(t, "user", ua.Run)
	va, err := videoapp.New(t.Context(), videoapp.Config{
		Base:         servicetest.Base(t, "sqlite://"+filepath.Join(t.TempDir(), "video.db"), brokers),
		UserGRPCAddr: ua.GRPCAddr(),
	}, telemetry.Noop())
	if err != nil {
		t.Fatalf("start video service: %v", err)
	}
	servicetest.Run(t, "video", va.Run)
	return &env{
		brokers:   brokers,
		userURL:   "http://" + ua.HTTPAddr(),
		videoURL:  "http://" + va.HTTPAddr(),
		userGRPC:  ua.GRPCAddr(),
		videoGRPC: va.GRPCAddr(),
		// Whatever a test asserts next, the contract allows no 5xx but 503
		// for an unreachable dependency.
		client: &httpxtest.Client{HTTP: &http.Client{Timeout: 30 * time.Second}, Tolerate: []int{http.StatusServiceUnavailable}},
	}
}

// historyConfig is watch history wired to e's services and broker
// (servicetest.Base: consumer groups unique to the test).
func historyConfig(t *testing.T, e *env, databaseURL string) app.Config {
	t.Helper()
	return app.Config{
		Base:          servicetest.Base(t, databaseURL, e.brokers),
		UserGRPCAddr:  e.userGRPC,
		VideoGRPCAddr: e.videoGRPC,
	}
}

func (e *env) startHistory(t *testing.T, cfg app.Config, p telemetry.Providers) {
	t.Helper()
	ha, err := app.New(t.Context(), cfg, p)
	if err != nil {
		t.Fatalf("start watch-history service: %v", err)
	}
	servicetest.Run(t, "watch-history", ha.Run)
	e.historyURL = "http://" + ha.HTTPAddr()
	e.historyGRPC = ha.GRPCAddr()
}

// response is a response read in full.
type response = httpxtest.Response

// request sends one request (httpxtest.Client.Do).
func (e *env) request(t *testing.T, method, url, token string, body any, headers ...string) response {
	t.Helper()
	return e.client.Do(t, method, url, token, body, headers...)
}

func (e *env) history(t *testing.T, method, path, token string, body any, headers ...string) response {
	t.Helper()
	return e.request(t, method, e.historyURL+path, token, body, headers...)
}

type user struct {
	id    string
	token string
}

// newUser registers a user with the user service and logs in.
func (e *env) newUser(t *testing.T) user {
	t.Helper()
	email := "u-" + uuid.NewString()[:8] + "@example.com"
	r := e.request(t, http.MethodPost, e.userURL+"/v1/users", "", map[string]string{
		"email": email, "password": "correct horse battery", "display_name": "Viewer",
	})
	if r.Status != http.StatusCreated {
		t.Fatalf("register: %d %s", r.Status, r.Body)
	}
	r = e.request(t, http.MethodPost, e.userURL+"/v1/sessions", "", map[string]string{
		"email": email, "password": "correct horse battery",
	})
	if r.Status != http.StatusCreated {
		t.Fatalf("login: %d %s", r.Status, r.Body)
	}
	var s struct {
		Token  string `json:"token"`
		UserID string `json:"user_id"`
	}
	r.Decode(t, &s)
	return user{id: s.UserID, token: s.Token}
}

type video struct {
	ID              string `json:"id"`
	Title           string `json:"title"`
	DurationSeconds int    `json:"duration_seconds"`
}

// newVideo publishes a movie owned by owner with the video service.
func (e *env) newVideo(t *testing.T, owner user, title string, duration int) video {
	t.Helper()
	r := e.request(t, http.MethodPost, e.videoURL+"/v1/videos", owner.token, map[string]any{
		"title": title, "description": "", "kind": "movie", "duration_seconds": duration,
	})
	if r.Status != http.StatusCreated {
		t.Fatalf("create video: %d %s", r.Status, r.Body)
	}
	var v video
	r.Decode(t, &v)
	return v
}

type entry struct {
	VideoID         string    `json:"video_id"`
	Title           string    `json:"title"`
	PositionSeconds int       `json:"position_seconds"`
	DurationSeconds int       `json:"duration_seconds"`
	Completed       bool      `json:"completed"`
	UpdatedAt       time.Time `json:"updated_at"`
}

type page struct {
	Items      []entry `json:"items"`
	NextCursor *string `json:"next_cursor"`
}

// put reports a position and expects it saved.
func (e *env) put(t *testing.T, u user, videoID string, position int) entry {
	t.Helper()
	r := e.history(t, http.MethodPut, "/v1/history/"+videoID, u.token, map[string]int{"position_seconds": position})
	if r.Status != http.StatusOK {
		t.Fatalf("PUT position %d: %d %s", position, r.Status, r.Body)
	}
	var got entry
	r.Decode(t, &got)
	return got
}

func (e *env) list(t *testing.T, u user, query string) page {
	t.Helper()
	r := e.history(t, http.MethodGet, "/v1/history"+query, u.token, nil)
	if r.Status != http.StatusOK {
		t.Fatalf("GET /v1/history%s: %d %s", query, r.Status, r.Body)
	}
	var p page
	r.Decode(t, &p)
	return p
}

type problem struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Detail   string `json:"detail"`
	Instance string `json:"instance"`
	Errors   []struct {
		Field  string `json:"field"`
		Detail string `json:"detail"`
	} `json:"errors"`
}

// assertProblem checks that r is an RFC 9457 problem with status, naming
// field among its errors when field is not empty.
func assertProblem(t *testing.T, r response, status int, field string) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status = %d, want %d: %s", r.Status, status, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		t.Fatalf("Content-Type = %q, want application/problem+json", ct)
	}
	var p problem
	r.Decode(t, &p)
	if p.Status != status || p.Type == "" || p.Title == "" {
		t.Fatalf("problem = %+v, want status %d with type and title", p, status)
	}
	if field == "" {
		return
	}
	for _, fe := range p.Errors {
		if fe.Field == field {
			return
		}
	}
	t.Fatalf("problem does not name field %q: %s", field, r.Body)
}

// eventually polls cond until it holds, failing t after a generous bound.
func eventually(t *testing.T, cond func() error) {
	t.Helper()
	kafkatest.Eventually(t, cond)
}
