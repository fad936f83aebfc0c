package app_test

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/vidstream/vidstream/services/api/events"
	videov1 "github.com/vidstream/vidstream/services/api/video/v1"
	"github.com/vidstream/vidstream/services/internal/cacheinval/cacheinvaltest"
	"github.com/vidstream/vidstream/services/internal/grpcx"
	"github.com/vidstream/vidstream/services/internal/httpx/httpxtest"
	"github.com/vidstream/vidstream/services/internal/kafkabus/kafkatest"
	"github.com/vidstream/vidstream/services/internal/loopback"
	"github.com/vidstream/vidstream/services/internal/telemetry"
	"github.com/vidstream/vidstream/services/internal/telemetry/telemetrytest"
	"github.com/vidstream/vidstream/services/video/app"
)

// cachedReplica is one video service replica with its read cache on, and
// what it recorded.
type cachedReplica struct {
	url     string
	grpc    videov1.VideoServiceClient
	spans   *tracetest.SpanRecorder
	metrics *sdkmetric.ManualReader
}

func startCachedReplica(t *testing.T, userGRPC, dbURL, redisURL, channel string, tune ...func(*app.Config)) *cachedReplica {
	t.Helper()
	p, spans, metrics := telemetrytest.NewWithMetrics(t)
	cfg := videoConfig(t, userGRPC, dbURL)
	cfg.RedisURL, cfg.CacheChannel = redisURL, channel
	for _, f := range tune {
		f(&cfg)
	}
	va := startVideoWith(t, cfg, p)
	conn, err := grpcx.Dial(va.GRPCAddr(), telemetry.Noop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return &cachedReplica{url: "http://" + va.HTTPAddr(), grpc: videov1.NewVideoServiceClient(conn), spans: spans, metrics: metrics}
}

// metric sums the data points of an int64 counter or gauge.
func (r *cachedReplica) metric(t *testing.T, name string) int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.metrics.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, dp := range d.DataPoints {
					n += dp.Value
				}
			case metricdata.Gauge[int64]:
				for _, dp := range d.DataPoints {
					n += dp.Value
				}
			}
		}
	}
	return n
}

func (r *cachedReplica) cacheOn(t *testing.T) bool {
	return r.metric(t, "vidstream.cache.enabled") == 1
}

// poll retries cond until it holds or the deadline passes.
func poll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(10 * time.Millisecond) // polling interval, not synchronisation
	}
}

// Two replicas of the video service share one database and one Redis (through
// a proxy the test can cut). A read on B is cached; an update through A is
// visible on B once the invalidation lands; with Redis unreachable both
// replicas read through to the database; with Redis back, B's cache starts
// empty and invalidations flow again.
func TestReadCacheAcrossReplicas(t *testing.T) {
	cases := []struct {
		name  string
		db    backend
		redis func(testing.TB) cacheinvaltest.Server
	}{
		{"sqlite+embedded-redis", func(t *testing.T) string { return "sqlite://" + filepath.Join(t.TempDir(), "video.db") }, cacheinvaltest.Embedded},
		{"sqlite+redis", func(t *testing.T) string { return "sqlite://" + filepath.Join(t.TempDir(), "video.db") }, cacheinvaltest.Real},
		{"postgres+redis", postgresBackend, cacheinvaltest.Real},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := tc.redis(t)
			dbURL := tc.db(t)
			proxy := cacheinvaltest.NewProxy(t, srv.URL)
			redisURL, ch := proxy.URL(t, srv.URL), cacheinvaltest.Channel(t)
			ua := startUser(t)
			a := startCachedReplica(t, ua.GRPCAddr(), dbURL, redisURL, ch)
			b := startCachedReplica(t, ua.GRPCAddr(), dbURL, redisURL, ch)
			e := &env{userURL: "http://" + ua.HTTPAddr(), videoURL: a.url, client: &httpxtest.Client{HTTP: &http.Client{Timeout: 10 * time.Second}}}
			u := e.newUser(t)
			v := e.create(t, u.token, movieReq("Metropolis"))
			poll(t, "both caches are on", func() bool { return a.cacheOn(t) && b.cacheOn(t) })

			title := func(r *cachedReplica) string {
				t.Helper()
				resp := e.request(t, http.MethodGet, r.url+"/v1/videos/"+v.ID, "", nil)
				if resp.Status != http.StatusOK {
					t.Fatalf("GET on a replica: %d %s", resp.Status, resp.Body)
				}
				var got videoBody
				resp.Decode(t, &got)
				return got.Title
			}
			patch := func(newTitle string) {
				t.Helper()
				if r := e.video(t, http.MethodPatch, "/v1/videos/"+v.ID, u.token, map[string]any{"title": newTitle}); r.Status != http.StatusOK {
					t.Fatalf("update through A: %d %s", r.Status, r.Body)
				}
			}

			hits := b.metric(t, "vidstream.cache.hits")
			for range 2 {
				if got := title(b); got != "Metropolis" {
					t.Fatalf("read on B = %q", got)
				}
			}
			if got := b.metric(t, "vidstream.cache.hits"); got != hits+1 {
				t.Fatalf("B's cache hits went from %d to %d over two reads, want the second served from cache", hits, got)
			}
			// gRPC GetVideo goes through the same cache.
			if resp, err := b.grpc.GetVideo(t.Context(), &videov1.GetVideoRequest{Id: v.ID}); err != nil || resp.GetVideo().GetTitle() != "Metropolis" {
				t.Fatalf("GetVideo on B: %v %v", resp, err)
			}
			if got := b.metric(t, "vidstream.cache.hits"); got != hits+2 {
				t.Fatal("gRPC GetVideo on B was not served from the cache")
			}

			patch("Metropolis (1927)")
			if title(a) != "Metropolis (1927)" {
				t.Fatal("A served its own old copy after its update")
			}
			poll(t, "B shows the update", func() bool { return title(b) == "Metropolis (1927)" })
			if b.metric(t, "vidstream.cache.invalidations.received") < 1 {
				t.Fatal("B counted no invalidation received")
			}
			// The update's trace reaches B: B's process span is linked to A's send span.
			var send tracetest.SpanStub
			for _, s := range tracetest.SpanStubsFromReadOnlySpans(a.spans.Ended()) {
				if s.Name == "send "+ch {
					send = s
				}
			}
			if !send.SpanContext.IsValid() {
				t.Fatal("A recorded no send span for its update")
			}
			poll(t, "B records a process span linked to A's send span", func() bool {
				for _, s := range tracetest.SpanStubsFromReadOnlySpans(b.spans.Ended()) {
					if s.Name == "process "+ch && len(s.Links) == 1 && s.Links[0].SpanContext.SpanID() == send.SpanContext.SpanID() {
						return s.SpanContext.TraceID() == send.SpanContext.TraceID()
					}
				}
				return false
			})

			proxy.Sever()
			poll(t, "both caches are bypassed", func() bool { return !a.cacheOn(t) && !b.cacheOn(t) })
			patch("Metropolis (restored)")
			for _, r := range []*cachedReplica{a, b, b} {
				if got := title(r); got != "Metropolis (restored)" {
					t.Fatalf("read while Redis is unreachable = %q: stale", got)
				}
			}

			proxy.Restore()
			poll(t, "both caches are back on", func() bool { return a.cacheOn(t) && b.cacheOn(t) })
			misses := b.metric(t, "vidstream.cache.misses")
			if title(b) != "Metropolis (restored)" || b.metric(t, "vidstream.cache.misses") != misses+1 {
				t.Fatal("B's cache did not start empty after the reconnect")
			}
			title(b) // cached again
			patch("Metropolis (final cut)")
			poll(t, "B shows the update made after the reconnect", func() bool { return title(b) == "Metropolis (final cut)" })

			if r := e.video(t, http.MethodDelete, "/v1/videos/"+v.ID, u.token, nil); r.Status != http.StatusNoContent {
				t.Fatalf("delete through A: %d %s", r.Status, r.Body)
			}
			poll(t, "B reports the video gone", func() bool {
				return e.request(t, http.MethodGet, b.url+"/v1/videos/"+v.ID, "", nil).Status == http.StatusNotFound
			})
		})
	}
}

// A cache that cannot work is a start-up error, not a silent bypass; and the
// error does not echo a URL that may hold a password.
func TestReadCacheConfigErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		url  string
		size int
		want string
	}{
		"not a redis URL": {url: "http://user:secret@redis:6379", size: 10, want: "Redis URL must be"},
		"zero size":       {url: "redis://127.0.0.1:6379/0", size: -1, want: "VIDEO_CACHE_SIZE"},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := videoConfig(t, loopback.FreeAddr(t), sqliteBackend(t))
			cfg.RedisURL, cfg.VideoCacheSize = tc.url, tc.size
			_, err := app.New(t.Context(), cfg, telemetry.Noop())
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "secret") {
				t.Fatalf("err = %v, want one naming %q without the password", err, tc.want)
			}
		})
	}
}

// A view counted by one replica's Kafka consumer (in the consumer's
// transaction) reaches the other replica's cache: view_count is cached, so
// a counted view must invalidate it once the consumer has committed.
func TestViewCountReachesEveryReplicasCache(t *testing.T) {
	brokers := kafkatest.Broker(t)
	ensureTopic(t, brokers, events.WatchTopic)
	srv := cacheinvaltest.Embedded(t)
	ch := cacheinvaltest.Channel(t)
	dbURL := sqliteBackend(t)
	ua := startUser(t)
	// One consumer group for both replicas, as in production: each view is
	// counted by one of them.
	group := "-" + uuid.NewString()
	onKafka := func(c *app.Config) { c.KafkaBrokers, c.ConsumerGroupSuffix = brokers, group }
	a := startCachedReplica(t, ua.GRPCAddr(), dbURL, srv.URL, ch, onKafka)
	b := startCachedReplica(t, ua.GRPCAddr(), dbURL, srv.URL, ch, onKafka)
	e := &env{userURL: "http://" + ua.HTTPAddr(), videoURL: a.url, client: &httpxtest.Client{HTTP: &http.Client{Timeout: 10 * time.Second}}}
	u := e.newUser(t)
	v := e.create(t, u.token, movieReq("Watched"))
	poll(t, "both caches are on", func() bool { return a.cacheOn(t) && b.cacheOn(t) })

	views := func(r *cachedReplica) int64 {
		t.Helper()
		var got videoBody
		e.request(t, http.MethodGet, r.url+"/v1/videos/"+v.ID, "", nil).Decode(t, &got)
		return got.ViewCount
	}
	hits := a.metric(t, "vidstream.cache.hits") + b.metric(t, "vidstream.cache.hits")
	for range 2 {
		if views(a) != 0 || views(b) != 0 {
			t.Fatal("a new video has views")
		}
	}
	if got := a.metric(t, "vidstream.cache.hits") + b.metric(t, "vidstream.cache.hits"); got != hits+2 {
		t.Fatalf("cache hits went from %d to %d, want both replicas' second reads cached", hits, got)
	}
	kafkatest.Publish(t, brokers, videoWatched(t, uuid.NewString(), uuid.NewString(), v.ID))
	poll(t, "both replicas show the counted view", func() bool { return views(a) == 1 && views(b) == 1 })
}
