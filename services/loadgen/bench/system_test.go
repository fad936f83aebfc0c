package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/vidstream/vidstream/services/internal/database"
	"github.com/vidstream/vidstream/services/internal/database/databasetest"
	"github.com/vidstream/vidstream/services/internal/kafkabus"
	"github.com/vidstream/vidstream/services/internal/kafkabus/kafkatest"
	"github.com/vidstream/vidstream/services/internal/service"
	"github.com/vidstream/vidstream/services/internal/service/servicetest"
	"github.com/vidstream/vidstream/services/internal/telemetry"
	"github.com/vidstream/vidstream/services/loadgen/internal/api"
	userapp "github.com/vidstream/vidstream/services/user/app"
	videoapp "github.com/vidstream/vidstream/services/video/app"
	historyapp "github.com/vidstream/vidstream/services/watch-history/app"
)

// dialects are the databases the benchmarks run on: SQLite always,
// PostgreSQL when the tests have a server (databasetest's variable).
func dialects() []database.Dialect {
	ds := []database.Dialect{database.SQLite}
	if os.Getenv(databasetest.PostgresURLEnv) != "" {
		ds = append(ds, database.Postgres)
	}
	return ds
}

// tracing is how a service's telemetry is configured.
type tracing int

const (
	// tracingOff samples nothing (OTEL_TRACES_SAMPLER=always_off): spans
	// are not recorded, trace context is still propagated, metrics and
	// logs are as in production.
	tracingOff tracing = iota
	// tracingOn records every span (always_on) and exports them in
	// batches over OTLP/HTTP, as a deployment with the default sampler
	// does, to a collector stand-in in this process that reads and drops
	// them.
	tracingOn
)

// providers builds a service's telemetry the way its main does, through
// telemetry.Setup, with logs (JSON, level info: one access-log line per
// request) formatted and discarded.
func providers(tb testing.TB, service string, mode tracing) telemetry.Providers {
	tb.Helper()
	env := map[string]string{"LOG_LEVEL": "info"}
	switch mode {
	case tracingOff:
		env["OTEL_TRACES_SAMPLER"] = "always_off"
		env["OTEL_TRACES_EXPORTER"] = "none"
	case tracingOn:
		env["OTEL_TRACES_SAMPLER"] = "always_on"
		env["OTEL_TRACES_EXPORTER"] = "otlp"
		env["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf"
		// The OTLP exporter reads its endpoint from the process
		// environment, not from Setup's getenv.
		tb.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector(tb).URL)
	}
	p, shutdown, err := telemetry.Setup(tb.Context(), service, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		tb.Fatalf("telemetry for %s: %v", service, err)
	}
	tb.Cleanup(func() { _ = shutdown(context.Background()) })
	return p
}

// otlpSink stands in for an OpenTelemetry collector: it reads every export
// request in full and answers success.
type otlpSink struct {
	*httptest.Server
	exports atomic.Int64
	bytes   atomic.Int64
}

func collector(tb testing.TB) *otlpSink {
	tb.Helper()
	s := &otlpSink{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		s.exports.Add(1)
		s.bytes.Add(n)
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK)
	}))
	tb.Cleanup(s.Close)
	return s
}

// system is the three services, each from its composition root, wired to
// each other and to one broker, in this process.
type system struct {
	userHTTP, videoHTTP, historyHTTP string
	videoGRPC                        string
	// videoDB is the video service's database URL.
	videoDB string
	brokers []string
	client  *api.Client
}

// systemConfig tunes startSystem.
type systemConfig struct {
	db      database.Dialect
	tracing tracing
	// telemetry, when set, replaces providers(): the event benchmark
	// installs its own span processors.
	telemetry func(tb testing.TB, service string) telemetry.Providers
}

// startSystem runs user, video and watch-history until tb ends and waits
// until each is ready.
func startSystem(tb testing.TB, cfg systemConfig) *system {
	tb.Helper()
	prov := cfg.telemetry
	if prov == nil {
		prov = func(tb testing.TB, service string) telemetry.Providers { return providers(tb, service, cfg.tracing) }
	}
	brokers := kafkatest.Broker(tb)
	s := &system{brokers: brokers}
	ctx := tb.Context()

	ua, err := userapp.New(ctx, userapp.Config{
		Base: benchBase(tb, databasetest.URL(tb, cfg.db), brokers),
		// Passwords are hashed only while the fixture signs up and logs
		// in, never on the measured paths: the cheapest argon2id the
		// service accepts keeps that short.
		Argon2MemoryKiB: 8, Argon2Iterations: 1, Argon2Parallelism: 1,
	}, prov(tb, userapp.ServiceName))
	if err != nil {
		tb.Fatalf("start user: %v", err)
	}
	servicetest.Run(tb, "user", ua.Run)

	s.videoDB = databasetest.URL(tb, cfg.db)
	va, err := videoapp.New(ctx, videoapp.Config{
		Base:         benchBase(tb, s.videoDB, brokers),
		UserGRPCAddr: ua.GRPCAddr(),
	}, prov(tb, videoapp.ServiceName))
	if err != nil {
		tb.Fatalf("start video: %v", err)
	}
	servicetest.Run(tb, "video", va.Run)

	ha, err := historyapp.New(ctx, historyapp.Config{
		Base:          benchBase(tb, databasetest.URL(tb, cfg.db), brokers),
		UserGRPCAddr:  ua.GRPCAddr(),
		VideoGRPCAddr: va.GRPCAddr(),
	}, prov(tb, historyapp.ServiceName))
	if err != nil {
		tb.Fatalf("start watch-history: %v", err)
	}
	servicetest.Run(tb, "watch-history", ha.Run)

	s.userHTTP, s.videoHTTP, s.historyHTTP = "http://"+ua.HTTPAddr(), "http://"+va.HTTPAddr(), "http://"+ha.HTTPAddr()
	s.videoGRPC = va.GRPCAddr()
	s.client = &api.Client{UserURL: s.userHTTP, VideoURL: s.videoHTTP, HistoryURL: s.historyHTTP, HTTP: newHTTPClient(tb)}
	for _, u := range []string{s.userHTTP, s.videoHTTP, s.historyHTTP} {
		waitReady(tb, u+"/readyz")
	}
	return s
}

// benchBase is servicetest.Base with the production deadline and retry
// spacing: the benchmarks measure what a deployment would run.
func benchBase(tb testing.TB, databaseURL string, brokers []string) service.Base {
	b := servicetest.Base(tb, databaseURL, brokers)
	b.RPCTimeout, b.ConsumerBackoff = 0, kafkabus.Backoff{}
	return b
}

// newHTTPClient keeps enough idle connections for every concurrent
// request: the default two per host would make most requests of a load
// run open a connection.
func newHTTPClient(tb testing.TB) *http.Client {
	tb.Helper()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = 4096
	tr.MaxIdleConnsPerHost = 4096
	tb.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Timeout: 30 * time.Second, Transport: traceparentTransport{base: tr}}
}

// waitReady polls url until it answers 200.
func waitReady(tb testing.TB, url string) {
	tb.Helper()
	err := poll(tb.Context(), 30*time.Second, time.Millisecond, func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, http.NoBody)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
}

// poll calls cond every interval until it returns nil, ctx ends or timeout
// passes, and returns cond's last error in the latter cases.
func poll(ctx context.Context, timeout, interval time.Duration, cond func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		err := cond(ctx)
		if err == nil {
			return nil
		}
		t := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("not within %s: %w", timeout, errors.Join(err, ctx.Err()))
		case <-t.C:
		}
	}
}

// traceparentTransport sends the traceparent header a request's context
// carries (withTraceparent), and nothing otherwise.
type traceparentTransport struct{ base http.RoundTripper }

type traceparentKey struct{}

func withTraceparent(ctx context.Context, tp string) context.Context {
	return context.WithValue(ctx, traceparentKey{}, tp)
}

func (t traceparentTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if tp, ok := r.Context().Value(traceparentKey{}).(string); ok {
		r = r.Clone(r.Context())
		r.Header.Set("Traceparent", tp)
	}
	return t.base.RoundTrip(r)
}

// fixture is the accounts and videos a load run spreads its requests
// over.
type fixture struct {
	tokens  []string // bearer tokens, one per user
	userIDs []string
	videos  []fixtureVideo
}

type fixtureVideo struct {
	id       string
	duration int
}

// newFixture signs up and logs in users and publishes videos (owned in
// turn by each user) through the public API.
func newFixture(tb testing.TB, c *api.Client, users, videos int) *fixture {
	tb.Helper()
	fx := &fixture{tokens: make([]string, users), userIDs: make([]string, users)}
	run := uuid.NewString()[:8]
	parallel(tb, users, func(ctx context.Context, i int) error {
		email := fmt.Sprintf("bench%d+%s@example.com", i, run)
		const password = "correct horse battery staple"
		u, err := c.SignUp(ctx, email, password, fmt.Sprintf("Bench %d", i))
		if err != nil {
			return err
		}
		s, err := c.LogIn(ctx, email, password)
		if err != nil {
			return err
		}
		fx.tokens[i], fx.userIDs[i] = s.Token, u.ID
		return nil
	})
	fx.addVideos(tb, c, videos)
	return fx
}

// addVideos publishes n more videos.
func (fx *fixture) addVideos(tb testing.TB, c *api.Client, n int) {
	tb.Helper()
	added := make([]fixtureVideo, n)
	parallel(tb, n, func(ctx context.Context, i int) error {
		v, err := c.CreateVideo(ctx, fx.tokens[i%len(fx.tokens)], api.NewVideo{
			Title: fmt.Sprintf("Bench movie %d", i), Description: "benchmark fixture", Kind: "movie",
			DurationSeconds: 3600 + rand.IntN(3600),
		})
		if err != nil {
			return err
		}
		added[i] = fixtureVideo{id: v.ID, duration: v.DurationSeconds}
		return nil
	})
	fx.videos = append(fx.videos, added...)
}

// bareFixture is the bare handler's: any UUID is a user (the token is the
// id) and a video.
func bareFixture(users, videos int, duration int) *fixture {
	fx := &fixture{}
	for range users {
		id := uuid.NewString()
		fx.tokens, fx.userIDs = append(fx.tokens, id), append(fx.userIDs, id)
	}
	for range videos {
		fx.videos = append(fx.videos, fixtureVideo{id: uuid.NewString(), duration: duration})
	}
	return fx
}

// parallel runs fn(i) for i in [0, n), eight at a time, failing tb on the
// first error.
func parallel(tb testing.TB, n int, fn func(ctx context.Context, i int) error) {
	tb.Helper()
	var (
		wg   sync.WaitGroup
		sem  = make(chan struct{}, 8)
		mu   sync.Mutex
		errs []error
	)
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := fn(tb.Context(), i); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		tb.Fatalf("fixture: %d of %d failed, first: %v", len(errs), n, errs[0])
	}
}
