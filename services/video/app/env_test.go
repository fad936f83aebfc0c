package app_test

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/vidstream/vidstream/services/internal/database"
	"github.com/vidstream/vidstream/services/internal/database/databasetest"
	"github.com/vidstream/vidstream/services/internal/httpx/httpxtest"
	"github.com/vidstream/vidstream/services/internal/loopback"
	"github.com/vidstream/vidstream/services/internal/outbox"
	"github.com/vidstream/vidstream/services/internal/service"
	"github.com/vidstream/vidstream/services/internal/service/servicetest"
	"github.com/vidstream/vidstream/services/internal/telemetry"
	userapp "github.com/vidstream/vidstream/services/user/app"
	"github.com/vidstream/vidstream/services/video/app"
	"github.com/vidstream/vidstream/services/video/internal/domain"
	"github.com/vidstream/vidstream/services/video/internal/store"
)

// env is a real user service and a real video service, in this process, on
// 127.0.0.1 ephemeral ports, each with its own SQLite database.
type env struct {
	userURL  string
	videoURL string
	grpcAddr string
	client   *httpxtest.Client
}

// startUser runs the real user service and returns it for the video service
// to authenticate against. Its events go nowhere (see videoConfig).
func startUser(t *testing.T) *service.App {
	t.Helper()
	ua, err := userapp.New(t.Context(), userapp.Config{
		Base: servicetest.Base(t, "sqlite://"+filepath.Join(t.TempDir(), "user.db"), []string{loopback.FreeAddr(t)}),
	}, telemetry.Noop())
	if err != nil {
		t.Fatalf("start user service: %v", err)
	}
	servicetest.Run(t, "user", ua.Run)
	return ua
}

// videoConfig is the video service on ephemeral ports against the user
// service at userGRPC. Its Kafka broker address refuses connections: tests
// that are not about events must not publish into whatever broker runs on
// the default port; the service serves regardless, its events waiting in
// the outbox. Tests about events set KafkaBrokers to kafkatest.Broker's.
func videoConfig(t *testing.T, userGRPC, databaseURL string) app.Config {
	t.Helper()
	return app.Config{
		Base:         servicetest.Base(t, databaseURL, []string{loopback.FreeAddr(t)}),
		UserGRPCAddr: userGRPC,
	}
}

// startVideo runs the video service against the user service at userGRPC.
func startVideo(t *testing.T, userGRPC, databaseURL string, p telemetry.Providers) *service.App {
	t.Helper()
	return startVideoWith(t, videoConfig(t, userGRPC, databaseURL), p)
}

func startVideoWith(t *testing.T, cfg app.Config, p telemetry.Providers) *service.App {
	t.Helper()
	va, err := app.New(t.Context(), cfg, p)
	if err != nil {
		t.Fatalf("start video service: %v", err)
	}
	servicetest.Run(t, "video", va.Run)
	return va
}

// backend returns the URL of a fresh, empty database for the video service.
type backend func(t *testing.T) string

func sqliteBackend(t *testing.T) string { return databasetest.URL(t, database.SQLite) }

// postgresBackend creates a database on VIDSTREAM_TEST_POSTGRES_URL's server
// (dropped after the test); it skips, or fails when CI=true, without one.
func postgresBackend(t *testing.T) string { return databasetest.URL(t, database.Postgres) }

// backends are the databases every end-to-end test runs against: the REST
// and gRPC behavior must not depend on the backend.
var backends = []struct {
	name string
	db   backend
}{{"sqlite", sqliteBackend}, {"postgres", postgresBackend}}

func newEnv(t *testing.T, db backend) *env {
	t.Helper()
	return newEnvWith(t, db, telemetry.Noop())
}

func newEnvWith(t *testing.T, db backend, p telemetry.Providers) *env {
	t.Helper()
	e, _ := newEnvDB(t, db, p)
	return e
}

// newEnvDB also returns the video service's database URL.
func newEnvDB(t *testing.T, db backend, p telemetry.Providers) (*env, string) {
	t.Helper()
	dbURL := db(t)
	ua := startUser(t)
	va := startVideo(t, ua.GRPCAddr(), dbURL, p)
	return &env{
		userURL:  "http://" + ua.HTTPAddr(),
		videoURL: "http://" + va.HTTPAddr(),
		grpcAddr: va.GRPCAddr(),
		client:   &httpxtest.Client{HTTP: &http.Client{Timeout: 10 * time.Second}},
	}, dbURL
}

// newEnvWithViews also returns a function that adds views to a video
// directly through the store's transactional IncrementViewCount, on a second
// connection pool to the service's database: many views without producing
// an event per view (the view counter itself is tested in events_test.go).
func newEnvWithViews(t *testing.T, db backend) (*env, func(t *testing.T, id string, by int64)) {
	t.Helper()
	e, dbURL := newEnvDB(t, db, telemetry.Noop())
	vdb, err := database.Open(t.Context(), dbURL, store.Migrations(), telemetry.Noop())
	if err != nil {
		t.Fatalf("open video database: %v", err)
	}
	t.Cleanup(func() { _ = vdb.Close() })
	s := store.New(vdb, outbox.New(vdb, "/services/video", telemetry.Noop()))
	return e, func(t *testing.T, id string, by int64) {
		t.Helper()
		if by == 0 {
			return
		}
		err := s.Atomic(t.Context(), func(ctx context.Context, tx domain.Tx) error {
			return tx.IncrementViewCount(ctx, uuid.MustParse(id), by)
		})
		if err != nil {
			t.Fatalf("increment view count: %v", err)
		}
	}
}

// response is a response read in full.
type response = httpxtest.Response

// request sends one request (httpxtest.Client.Do).
func (e *env) request(t *testing.T, method, url, token string, body any, headers ...string) response {
	t.Helper()
	return e.client.Do(t, method, url, token, body, headers...)
}

// video calls the video service.
func (e *env) video(t *testing.T, method, path, token string, body any, headers ...string) response {
	t.Helper()
	return e.request(t, method, e.videoURL+path, token, body, headers...)
}

var userSeq atomic.Int64

type user struct {
	id    string
	token string
}

// newUser registers a user with the real user service and logs in.
func (e *env) newUser(t *testing.T) user {
	t.Helper()
	email := fmt.Sprintf("viewer%d-%d@example.com", userSeq.Add(1), time.Now().UnixNano())
	const password = "correct horse battery"
	r := e.request(t, http.MethodPost, e.userURL+"/v1/users", "", map[string]string{
		"email": email, "password": password, "display_name": "Viewer",
	})
	if r.Status != http.StatusCreated {
		t.Fatalf("create user: %d %s", r.Status, r.Body)
	}
	r = e.request(t, http.MethodPost, e.userURL+"/v1/sessions", "", map[string]string{"email": email, "password": password})
	if r.Status != http.StatusCreated {
		t.Fatalf("create session: %d %s", r.Status, r.Body)
	}
	var s struct {
		Token  string `json:"token"`
		UserID string `json:"user_id"`
	}
	r.Decode(t, &s)
	return user{id: s.UserID, token: s.Token}
}

// logout revokes the user's session at the user service.
func (e *env) logout(t *testing.T, u user) {
	t.Helper()
	r := e.request(t, http.MethodDelete, e.userURL+"/v1/sessions/current", u.token, nil)
	if r.Status != http.StatusNoContent {
		t.Fatalf("logout: %d %s", r.Status, r.Body)
	}
}

type videoBody struct {
	ID              string    `json:"id"`
	Title           string    `json:"title"`
	Description     string    `json:"description"`
	Kind            string    `json:"kind"`
	DurationSeconds int       `json:"duration_seconds"`
	SeriesTitle     *string   `json:"series_title"`
	Season          *int      `json:"season"`
	Episode         *int      `json:"episode"`
	ReleaseYear     *int      `json:"release_year"`
	OwnerID         string    `json:"owner_id"`
	Status          string    `json:"status"`
	ViewCount       int64     `json:"view_count"`
	CreatedAt       time.Time `json:"created_at"`
	UpdatedAt       time.Time `json:"updated_at"`
}

type pageBody struct {
	Items      []videoBody `json:"items"`
	NextCursor *string     `json:"next_cursor"`
}

func movieReq(title string) map[string]any {
	return map[string]any{"title": title, "description": "A film.", "kind": "movie", "duration_seconds": 5400, "release_year": 2001}
}

func episodeReq(title string) map[string]any {
	return map[string]any{"title": title, "kind": "episode", "duration_seconds": 1500,
		"series_title": "The Show", "season": 1, "episode": 3}
}

// create publishes a video and fails the test unless it is 201.
func (e *env) create(t *testing.T, token string, body any) videoBody {
	t.Helper()
	r := e.video(t, http.MethodPost, "/v1/videos", token, body)
	if r.Status != http.StatusCreated {
		t.Fatalf("create video: %d %s", r.Status, r.Body)
	}
	var v videoBody
	r.Decode(t, &v)
	return v
}

type problemBody struct {
	Type      string `json:"type"`
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Detail    string `json:"detail"`
	Instance  string `json:"instance"`
	RequestID string `json:"request_id"`
	Errors    []struct {
		Field  string `json:"field"`
		Detail string `json:"detail"`
	} `json:"errors"`
}

// wantProblem asserts an RFC 9457 error with the given status and, when
// fields are given, that the body names each of them.
func wantProblem(t *testing.T, r response, status int, fields ...string) problemBody {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status = %d, want %d; body %s", r.Status, status, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		t.Fatalf("Content-Type = %q, want application/problem+json", ct)
	}
	var p problemBody
	r.Decode(t, &p)
	if p.Status != status || p.Title == "" || p.Type == "" {
		t.Fatalf("incomplete problem: %s", r.Body)
	}
	for _, f := range fields {
		found := false
		for _, e := range p.Errors {
			if e.Field == f {
				found = true
			}
		}
		if !found {
			t.Fatalf("problem does not name field %q: %s", f, r.Body)
		}
	}
	return p
}
