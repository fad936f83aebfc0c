package systemtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/vidstream/vidstream/services/api/events"
	historyv1 "github.com/vidstream/vidstream/services/api/history/v1"
	"github.com/vidstream/vidstream/services/internal/database/databasetest"
	"github.com/vidstream/vidstream/services/internal/grpcx"
	"github.com/vidstream/vidstream/services/internal/service/servicetest"
	"github.com/vidstream/vidstream/services/internal/telemetry"
	"github.com/vidstream/vidstream/services/internal/telemetry/telemetrytest"
	"github.com/vidstream/vidstream/services/internal/workqueue/workqueuetest"
	userapp "github.com/vidstream/vidstream/services/user/app"
	videoapp "github.com/vidstream/vidstream/services/video/app"
	historyapp "github.com/vidstream/vidstream/services/watch-history/app"
)

// The event contract's topics and event types, spelled out here rather than
// taken from services/api/events: a system test checks the wire contract
// (docs/architecture.md), not whatever the code currently says.
const (
	usersTopic  = "vidstream.users.v1"
	videosTopic = "vidstream.videos.v1"
	watchTopic  = "vidstream.watch.v1"
	watchDLQ    = "vidstream.watch.v1.dlq"

	typeWatchProgressed = watchTopic + ".WatchProgressed"
	typeVideoWatched    = watchTopic + ".VideoWatched"
)

// backend is a database every service runs on for one run of a scenario.
type backend struct {
	name string
	// database returns the URL of a fresh, empty database for service svc.
	database func(t *testing.T, svc string) string
}

var backends = []backend{
	{name: "sqlite", database: func(t *testing.T, svc string) string {
		t.Helper()
		return "sqlite://" + filepath.Join(t.TempDir(), svc+".db")
	}},
	// Skips locally, and fails when CI=true, without
	// VIDSTREAM_TEST_POSTGRES_URL (see databasetest).
	{name: "postgres", database: func(t *testing.T, _ string) string {
		t.Helper()
		return databasetest.PostgresURL(t)
	}},
}

// forEachBackend runs fn once per database backend, as parallel sub-tests
// named after the backend.
func forEachBackend(t *testing.T, fn func(t *testing.T, b backend)) {
	t.Helper()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			fn(t, b)
		})
	}
}

// system is the three services wired to each other and to one broker.
type system struct {
	brokers []string

	userURL, videoURL, historyURL string
	history                       historyv1.WatchHistoryServiceClient

	// Spans each service recorded, as its own exporter would see them.
	userSpans, videoSpans, historySpans *tracetest.SpanRecorder
	// transcoderSpans are the transcoder's, once startTranscoder ran it.
	transcoderSpans *tracetest.SpanRecorder

	// rabbitURL is the job queue's broker, empty without the job queue;
	// transcodeQueue is the test's own work queue on it.
	rabbitURL, transcodeQueue string
	videoGRPC                 string

	// viewCounterGroup is video's consumer group of watchTopic.
	viewCounterGroup string

	client *http.Client
}

// options tune start.
type options struct {
	// logLevel is the least severe level the services log at (default
	// info). A scenario sending hundreds of requests raises it, so that
	// a failure's output stays readable.
	logLevel slog.Level
	// rabbitURL runs video with the job queue on this RabbitMQ.
	rabbitURL string
}

// start runs user, video and watch-history on b's databases and brokers,
// each with telemetry providers of its own, and stops them, checking that
// they shut down cleanly, when t ends.
//
// Consumer groups get names unique to t: on a real cluster shared by the
// whole test run, two instances of one group would split the partitions
// between them, and each would miss the other's events.
func start(t *testing.T, b backend, brokers []string, opt options) *system {
	t.Helper()
	s := &system{brokers: brokers, client: &http.Client{Timeout: 30 * time.Second}}

	up, userSpans := providers(t, opt.logLevel)
	vp, videoSpans := providers(t, opt.logLevel)
	hp, historySpans := providers(t, opt.logLevel)
	s.userSpans, s.videoSpans, s.historySpans = userSpans, videoSpans, historySpans

	ua, err := userapp.New(t.Context(), userapp.Config{
		Base: servicetest.Base(t, b.database(t, "user"), brokers),
		// The cheapest argon2id the service accepts: these tests are
		// about events, and sign up and log in many users.
		Argon2MemoryKiB:   8,
		Argon2Iterations:  1,
		Argon2Parallelism: 1,
	}, up)
	if err != nil {
		t.Fatalf("start user service: %v", err)
	}
	servicetest.Run(t, "user", ua.Run)

	vcfg := videoapp.Config{Base: servicetest.Base(t, b.database(t, "video"), brokers), UserGRPCAddr: ua.GRPCAddr()}
	if opt.rabbitURL != "" {
		// A queue of the test's own on the shared broker, deleted when
		// it ends; its retry delay is the transcoder's (startTranscoder).
		s.rabbitURL = opt.rabbitURL
		s.transcodeQueue = workqueuetest.Topology(t, s.rabbitURL, events.TranscodeQueue, transcodeRetryDelay).Queue
		vcfg.RabbitMQURL, vcfg.TranscodeQueue = s.rabbitURL, s.transcodeQueue
	}
	s.viewCounterGroup = events.ViewCounterGroup + vcfg.ConsumerGroupSuffix
	va, err := videoapp.New(t.Context(), vcfg, vp)
	if err != nil {
		t.Fatalf("start video service: %v", err)
	}
	servicetest.Run(t, "video", va.Run)

	ha, err := historyapp.New(t.Context(), historyapp.Config{
		Base:          servicetest.Base(t, b.database(t, "watch-history"), brokers),
		UserGRPCAddr:  ua.GRPCAddr(),
		VideoGRPCAddr: va.GRPCAddr(),
	}, hp)
	if err != nil {
		t.Fatalf("start watch-history service: %v", err)
	}
	servicetest.Run(t, "watch-history", ha.Run)

	s.userURL = "http://" + ua.HTTPAddr()
	s.videoURL = "http://" + va.HTTPAddr()
	s.videoGRPC = va.GRPCAddr()
	s.historyURL = "http://" + ha.HTTPAddr()

	// Not traced: the test is no service, and its calls must not show up
	// in the services' recorders.
	conn, err := grpcx.Dial(ha.GRPCAddr(), telemetry.Noop())
	if err != nil {
		t.Fatalf("dial watch-history gRPC: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	s.history = historyv1.NewWatchHistoryServiceClient(conn)
	return s
}

// providers returns a service's own in-memory telemetry, logging at level
// and above to the test's output.
func providers(t *testing.T, level slog.Level) (telemetry.Providers, *tracetest.SpanRecorder) {
	t.Helper()
	p, spans := telemetrytest.New(t)
	p.Logger = slog.New(minLevel{Handler: p.Logger.Handler(), min: level})
	return p, spans
}

// minLevel drops records below min. It wraps telemetrytest's handler, whose
// writer tolerates a server logging after its test has ended.
type minLevel struct {
	slog.Handler
	min slog.Level
}

func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h minLevel) WithAttrs(attrs []slog.Attr) slog.Handler {
	return minLevel{Handler: h.Handler.WithAttrs(attrs), min: h.min}
}

func (h minLevel) WithGroup(name string) slog.Handler {
	return minLevel{Handler: h.Handler.WithGroup(name), min: h.min}
}

// response is an HTTP response read in full.
type response struct {
	status int
	body   []byte
}

func (r response) decode(t *testing.T, dst any) {
	t.Helper()
	if err := json.Unmarshal(r.body, dst); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// do sends one request with body (nil, or a value encoded as JSON) and
// reads the whole response. contentType applies when there is a body.
func (s *system) do(ctx context.Context, method, url, token, contentType string, body any) (response, error) {
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return response{}, fmt.Errorf("encode body: %w", err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return response{}, err
	}
	if rd != nil {
		req.Header.Set("Content-Type", contentType)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return response{}, err
	}
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{}, fmt.Errorf("%s %s: read body: %w", method, url, err)
	}
	return response{status: resp.StatusCode, body: raw}, nil
}

// request is do that fails t on a transport error or an unexpected status.
func (s *system) request(t *testing.T, method, url, token string, body any, want int) response {
	t.Helper()
	r, err := s.do(t.Context(), method, url, token, "application/json", body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	if r.status != want {
		t.Fatalf("%s %s: %d %s, want %d", method, url, r.status, r.body, want)
	}
	return r
}

// user is a signed-up user with a session token.
type user struct {
	id    string
	token string
}

// newUser signs up with the user service and logs in.
func (s *system) newUser(t *testing.T) user {
	t.Helper()
	email := "u-" + uuid.NewString() + "@example.com"
	const password = "correct horse battery"
	s.request(t, http.MethodPost, s.userURL+"/v1/users", "", map[string]string{
		"email": email, "password": password, "display_name": "Viewer",
	}, http.StatusCreated)
	var sess struct {
		Token  string `json:"token"`
		UserID string `json:"user_id"`
	}
	s.request(t, http.MethodPost, s.userURL+"/v1/sessions", "", map[string]string{
		"email": email, "password": password,
	}, http.StatusCreated).decode(t, &sess)
	return user{id: sess.UserID, token: sess.Token}
}

// video is the part of the video service's representation the tests use.
type video struct {
	ID              string `json:"id"`
	Title           string `json:"title"`
	DurationSeconds int    `json:"duration_seconds"`
	ViewCount       int64  `json:"view_count"`
}

// newVideo publishes a movie owned by owner with the video service.
func (s *system) newVideo(t *testing.T, owner user, title string, duration int) video {
	t.Helper()
	var v video
	s.request(t, http.MethodPost, s.videoURL+"/v1/videos", owner.token, map[string]any{
		"title": title, "description": "", "kind": "movie", "duration_seconds": duration,
	}, http.StatusCreated).decode(t, &v)
	return v
}

// getVideo reads a video through the video service's public API.
func (s *system) getVideo(ctx context.Context, id string) (video, error) {
	r, err := s.do(ctx, http.MethodGet, s.videoURL+"/v1/videos/"+id, "", "", nil)
	if err != nil {
		return video{}, err
	}
	if r.status != http.StatusOK {
		return video{}, fmt.Errorf("GET /v1/videos/%s: %d %s", id, r.status, r.body)
	}
	var v video
	if err := json.Unmarshal(r.body, &v); err != nil {
		return video{}, fmt.Errorf("decode video %s: %w", r.body, err)
	}
	return v, nil
}

// viewCount is the video's view_count, failing t if it cannot be read.
func (s *system) viewCount(t *testing.T, id string) int64 {
	t.Helper()
	v, err := s.getVideo(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return v.ViewCount
}

// waitViewCount polls until the video's view_count is want. A count above
// want fails at once: views are never taken back, so it cannot recover.
func (s *system) waitViewCount(t *testing.T, id string, want int64) {
	t.Helper()
	s.waitViewCountWithin(t, id, want, waitTimeout)
}

// waitViewCountWithin is waitViewCount with its own bound.
func (s *system) waitViewCountWithin(t *testing.T, id string, want int64, timeout time.Duration) {
	t.Helper()
	waitFor(t, timeout, func() error {
		v, err := s.getVideo(t.Context(), id)
		if err != nil {
			return err
		}
		if v.ViewCount > want {
			t.Fatalf("video %s: view_count %d, want %d: a view was counted twice", id, v.ViewCount, want)
		}
		if v.ViewCount != want {
			return fmt.Errorf("video %s: view_count %d, want %d", id, v.ViewCount, want)
		}
		return nil
	})
}

// entry is one item of a watch history, as REST returns it.
type entry struct {
	VideoID         string `json:"video_id"`
	Title           string `json:"title"`
	PositionSeconds int    `json:"position_seconds"`
	DurationSeconds int    `json:"duration_seconds"`
	Completed       bool   `json:"completed"`
}

// tryPut reports a playback position to watch history.
func (s *system) tryPut(ctx context.Context, u user, videoID string, position int) (entry, error) {
	r, err := s.do(ctx, http.MethodPut, s.historyURL+"/v1/history/"+videoID, u.token, "application/json",
		map[string]int{"position_seconds": position})
	if err != nil {
		return entry{}, err
	}
	if r.status != http.StatusOK {
		return entry{}, fmt.Errorf("PUT /v1/history/%s position %d: %d %s", videoID, position, r.status, r.body)
	}
	var e entry
	if err := json.Unmarshal(r.body, &e); err != nil {
		return entry{}, fmt.Errorf("decode entry %s: %w", r.body, err)
	}
	return e, nil
}

// put is tryPut that fails t unless the position was saved.
func (s *system) put(t *testing.T, u user, videoID string, position int) entry {
	t.Helper()
	e, err := s.tryPut(t.Context(), u, videoID, position)
	if err != nil {
		t.Fatal(err)
	}
	if e.VideoID != videoID || e.PositionSeconds != position {
		t.Fatalf("PUT position %d of %s answered %+v", position, videoID, e)
	}
	return e
}

// listHistory asks watch history over gRPC, the east-west API that needs no
// token: it still answers for a user who no longer exists.
func (s *system) listHistory(ctx context.Context, userID string) ([]*historyv1.HistoryEntry, error) {
	var all []*historyv1.HistoryEntry
	token := ""
	for {
		resp, err := s.history.ListHistory(ctx, &historyv1.ListHistoryRequest{UserId: userID, PageToken: token})
		if err != nil {
			return nil, fmt.Errorf("ListHistory(%s): %w", userID, err)
		}
		all = append(all, resp.GetEntries()...)
		if token = resp.GetNextPageToken(); token == "" {
			return all, nil
		}
	}
}

// waitTimeout bounds a wait for an asynchronous effect. Generous, because
// CI machines are slow and busy; a passing test never waits for it.
const waitTimeout = 30 * time.Second

// eventually polls cond until it returns nil, failing t with cond's last
// error if that takes longer than waitTimeout.
func eventually(t *testing.T, cond func() error) {
	t.Helper()
	waitFor(t, waitTimeout, cond)
}

// waitFor polls cond every few milliseconds until it returns nil, and fails
// t with cond's last error if that takes longer than timeout. It is how the
// tests wait for effects of asynchronous work without sleeping a guessed
// duration.
func waitFor(t *testing.T, timeout time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	wait := 5 * time.Millisecond
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) || t.Context().Err() != nil {
			t.Fatalf("condition not met within %s: %v", timeout, errors.Join(err, t.Context().Err()))
		}
		time.Sleep(wait)
		wait = min(wait*2, 200*time.Millisecond)
	}
}
