package cacheinval_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/vidstream/vidstream/services/internal/cacheinval"
	"github.com/vidstream/vidstream/services/internal/cacheinval/cacheinvaltest"
	"github.com/vidstream/vidstream/services/internal/readcache"
	"github.com/vidstream/vidstream/services/internal/telemetry"
	"github.com/vidstream/vidstream/services/internal/telemetry/telemetrytest"
)

// db is the data the replicas cache: one value per key, shared like a
// database.
type db struct {
	mu   sync.Mutex
	vals map[string]int
}

func (d *db) set(k string, v int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.vals[k] = v
}

// replica is one process's cache and bus over the shared db.
type replica struct {
	cache *readcache.Cache[string, int]
	bus   *cacheinval.Bus
	db    *db
	loads atomic.Int64
}

func startReplica(t *testing.T, d *db, url, channel string, p telemetry.Providers) *replica {
	t.Helper()
	c, err := readcache.New[string, int](readcache.Options{Name: "test", Size: 100, TTL: time.Hour}, p)
	if err != nil {
		t.Fatal(err)
	}
	bus, err := cacheinval.New(cacheinval.Options{URL: url, Channel: channel, HealthInterval: 200 * time.Millisecond}, c, p)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = bus.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return &replica{cache: c, bus: bus, db: d}
}

func (r *replica) get(t *testing.T, k string) int {
	t.Helper()
	v, err := r.cache.Get(t.Context(), k, func(context.Context) (int, error) {
		r.loads.Add(1)
		r.db.mu.Lock()
		defer r.db.mu.Unlock()
		return r.db.vals[k], nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(5 * time.Millisecond) // polling interval, not synchronisation
	}
}

func waitEnabled(t *testing.T, rs ...*replica) {
	t.Helper()
	for _, r := range rs {
		eventually(t, "the cache is enabled (subscribed)", r.cache.Enabled)
	}
}

func forEachServer(t *testing.T, fn func(t *testing.T, s cacheinvaltest.Server)) {
	for _, srv := range cacheinvaltest.Servers {
		t.Run(srv.Name, func(t *testing.T) {
			t.Parallel()
			fn(t, srv.Start(t))
		})
	}
}

// The publishing replica drops its own copy at once; the other drops its
// copy when the message lands, and then reads the change.
func TestInvalidationReachesEveryReplica(t *testing.T) {
	forEachServer(t, func(t *testing.T, s cacheinvaltest.Server) {
		ch := cacheinvaltest.Channel(t)
		d := &db{vals: map[string]int{"k": 1}}
		a := startReplica(t, d, s.URL, ch, telemetry.Noop())
		b := startReplica(t, d, s.URL, ch, telemetry.Noop())
		waitEnabled(t, a, b)

		if a.get(t, "k") != 1 || b.get(t, "k") != 1 || b.get(t, "k") != 1 {
			t.Fatal("first reads")
		}
		if b.loads.Load() != 1 {
			t.Fatalf("b loaded %d times, want the second read served from its cache", b.loads.Load())
		}
		d.set("k", 2) // the commit
		a.bus.Publish(t.Context(), "k")
		if a.get(t, "k") != 2 {
			t.Fatal("the publishing replica served its old copy")
		}
		eventually(t, "b reads the change", func() bool { return b.get(t, "k") == 2 })
		if !b.cache.Enabled() {
			t.Fatal("b's cache was turned off by an ordinary invalidation")
		}
	})
}

// Redis unreachable: both replicas bypass their caches (every read goes to
// the source, so reads stay correct), a write's invalidation waits; Redis
// back: the caches start empty and invalidations flow again.
func TestRedisOutageBypassesThenStartsEmpty(t *testing.T) {
	forEachServer(t, func(t *testing.T, s cacheinvaltest.Server) {
		proxy := cacheinvaltest.NewProxy(t, s.URL)
		url := proxy.URL(t, s.URL)
		ch := cacheinvaltest.Channel(t)
		d := &db{vals: map[string]int{"k": 1}}
		a := startReplica(t, d, url, ch, telemetry.Noop())
		b := startReplica(t, d, url, ch, telemetry.Noop())
		waitEnabled(t, a, b)
		b.get(t, "k")

		proxy.Sever()
		eventually(t, "both caches are bypassed", func() bool { return !a.cache.Enabled() && !b.cache.Enabled() })
		d.set("k", 2)
		a.bus.Publish(t.Context(), "k") // fails: kept for later
		before := b.loads.Load()
		if a.get(t, "k") != 2 || b.get(t, "k") != 2 || b.get(t, "k") != 2 {
			t.Fatal("a read during the outage was stale")
		}
		if b.loads.Load() != before+2 {
			t.Fatal("a read during the outage was served from the cache")
		}

		proxy.Restore()
		waitEnabled(t, a, b)
		before = b.loads.Load()
		if b.get(t, "k") != 2 || b.loads.Load() != before+1 {
			t.Fatal("b's cache did not start empty after the reconnect")
		}
		d.set("k", 3)
		a.bus.Publish(t.Context(), "k")
		eventually(t, "b reads the change after the reconnect", func() bool { return b.get(t, "k") == 3 })
	})
}

// The embedded server stopped and started again (all subscriptions gone,
// as after a Redis restart) has the same effect.
func TestRedisRestart(t *testing.T) {
	s := cacheinvaltest.Embedded(t)
	ch := cacheinvaltest.Channel(t)
	d := &db{vals: map[string]int{"k": 1}}
	a := startReplica(t, d, s.URL, ch, telemetry.Noop())
	b := startReplica(t, d, s.URL, ch, telemetry.Noop())
	waitEnabled(t, a, b)
	b.get(t, "k")
	s.Embedded.Close()
	eventually(t, "both caches are bypassed", func() bool { return !a.cache.Enabled() && !b.cache.Enabled() })
	d.set("k", 2)
	if b.get(t, "k") != 2 {
		t.Fatal("stale read while Redis is down")
	}
	if err := s.Embedded.Restart(); err != nil {
		t.Fatal(err)
	}
	waitEnabled(t, a, b)
	if b.cache.Len() > 1 || b.get(t, "k") != 2 {
		t.Fatal("cache not emptied on reconnect")
	}
	b.get(t, "k")
	d.set("k", 3)
	a.bus.Publish(t.Context(), "k")
	eventually(t, "b reads the change after the restart", func() bool { return b.get(t, "k") == 3 })
}

// A message nobody can read meant to invalidate something: the receiver
// drops everything.
func TestUndecodableMessageClearsCache(t *testing.T) {
	forEachServer(t, func(t *testing.T, s cacheinvaltest.Server) {
		ch := cacheinvaltest.Channel(t)
		d := &db{vals: map[string]int{"k": 1, "j": 1}}
		b := startReplica(t, d, s.URL, ch, telemetry.Noop())
		waitEnabled(t, b)
		b.get(t, "k")
		b.get(t, "j")
		opts, err := redis.ParseURL(s.URL)
		if err != nil {
			t.Fatal(err)
		}
		raw := redis.NewClient(opts)
		t.Cleanup(func() { _ = raw.Close() })
		if err := raw.Publish(t.Context(), ch, "{not json").Err(); err != nil {
			t.Fatal(err)
		}
		eventually(t, "the cache is emptied", func() bool { return b.cache.Len() == 0 })
		if !b.cache.Enabled() {
			t.Fatal("cache left off after clearing")
		}
	})
}

// The send span is a PRODUCER child of the change's span; every replica's
// process span is a CONSUMER child of the send span and linked to it.
func TestSpansLinkReceiverToPublisher(t *testing.T) {
	forEachServer(t, func(t *testing.T, s cacheinvaltest.Server) {
		ch := cacheinvaltest.Channel(t)
		d := &db{vals: map[string]int{"k": 1}}
		pa, recA := telemetrytest.New(t)
		pb, recB := telemetrytest.New(t)
		a := startReplica(t, d, s.URL, ch, pa)
		b := startReplica(t, d, s.URL, ch, pb)
		waitEnabled(t, a, b)

		ctx, parent := pa.Tracer.Tracer("test").Start(t.Context(), "PATCH /v1/videos/{id}")
		a.bus.Publish(ctx, "k")
		parent.End()

		var send tracetest.SpanStub
		for _, sp := range tracetest.SpanStubsFromReadOnlySpans(recA.Ended()) {
			if sp.Name == "send "+ch {
				send = sp
			}
		}
		if send.SpanKind != trace.SpanKindProducer || send.Parent.SpanID() != parent.SpanContext().SpanID() {
			t.Fatalf("send span: kind %v parent %v, want PRODUCER child of the change", send.SpanKind, send.Parent.SpanID())
		}
		wantAttr(t, send.Attributes, "messaging.system", "redis")
		wantAttr(t, send.Attributes, "messaging.destination.name", ch)
		wantAttr(t, send.Attributes, "messaging.operation.type", "send")

		var process tracetest.SpanStub
		eventually(t, "b records the process span", func() bool {
			for _, sp := range tracetest.SpanStubsFromReadOnlySpans(recB.Ended()) {
				if sp.Name == "process "+ch {
					process = sp
					return true
				}
			}
			return false
		})
		if process.SpanKind != trace.SpanKindConsumer {
			t.Fatalf("process span kind %v", process.SpanKind)
		}
		if process.Parent.SpanID() != send.SpanContext.SpanID() || process.SpanContext.TraceID() != parent.SpanContext().TraceID() {
			t.Fatal("process span is not a child of the send span in the change's trace")
		}
		if len(process.Links) != 1 || process.Links[0].SpanContext.SpanID() != send.SpanContext.SpanID() {
			t.Fatalf("process span links %v, want the send span", process.Links)
		}
		wantAttr(t, process.Attributes, "messaging.system", "redis")
		wantAttr(t, process.Attributes, "messaging.operation.type", "process")
		wantAttr(t, process.Attributes, "vidstream.cache.source", a.bus.Source())
	})
}

func wantAttr(t *testing.T, attrs []attribute.KeyValue, key, want string) {
	t.Helper()
	for _, kv := range attrs {
		if string(kv.Key) == key {
			if got := kv.Value.String(); got != want {
				t.Fatalf("%s = %q, want %q", key, got, want)
			}
			return
		}
	}
	t.Fatalf("no attribute %s in %v", key, attrs)
}
