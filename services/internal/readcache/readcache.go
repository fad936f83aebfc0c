// Package readcache is a bounded, in-process read-through cache whose
// entries are dropped by invalidation, for data that several replicas
// change: least-recently-used eviction bounds it by entry count, a TTL is a
// safety net, and a fill that raced with an invalidation of its key is
// discarded rather than stored. Whoever knows about changes (package
// cacheinval, over Redis Pub/Sub) calls Invalidate, Clear and SetEnabled.
//
// The rule it keeps: once Invalidate(k) has returned, no Get(k) returns a
// value loaded before that call. A load that started before the
// invalidation may still return its (older) value to its own caller, as
// any read racing with a write may, but it never lands in the cache.
package readcache

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	noopmetric "go.opentelemetry.io/otel/metric/noop"

	"github.com/vidstream/vidstream/services/internal/telemetry"
)

const instrumentationName = "github.com/vidstream/vidstream/services/internal/readcache"

// Options configure a Cache.
type Options struct {
	// Name labels the cache's metrics (attribute vidstream.cache.name).
	Name string
	// Size is the most entries kept; the least recently used goes first.
	Size int
	// TTL bounds how long an entry is served at all, whatever the
	// invalidations did; zero or less means no expiry.
	TTL time.Duration
	// Now replaces time.Now (tests).
	Now func() time.Time
}

// Cache is safe for concurrent use. It starts disabled (every Get loads):
// it has no way of hearing about changes until whoever delivers the
// invalidations enables it.
type Cache[K comparable, V any] struct {
	ttl time.Duration
	now func() time.Time

	mu      sync.Mutex
	lru     *simplelru.LRU[K, entry[V]]
	enabled bool
	// seq counts invalidations and clears; a load remembers it when it
	// starts, and its result is stored only if nothing that concerns its
	// key happened since.
	seq       uint64
	clearedAt uint64
	loads     map[K]*inflight

	hits, misses, bypassed, invalidated metric.Int64Counter
	attrs                               metric.MeasurementOption
}

type entry[V any] struct {
	v       V
	expires time.Time
}

// inflight is the loads under way for one key, and the seq of the last
// invalidation of that key while any of them ran.
type inflight struct {
	n             int
	invalidatedAt uint64
}

// New returns a disabled cache.
func New[K comparable, V any](opts Options, p telemetry.Providers) (*Cache[K, V], error) {
	if opts.Size < 1 {
		return nil, errors.New("readcache: size must be at least 1")
	}
	l, err := simplelru.NewLRU[K, entry[V]](opts.Size, nil)
	if err != nil {
		return nil, err
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	c := &Cache[K, V]{
		ttl:   opts.TTL,
		now:   opts.Now,
		lru:   l,
		loads: map[K]*inflight{},
		attrs: metric.WithAttributes(attribute.String("vidstream.cache.name", opts.Name)),
	}
	c.hits = counter(p, "vidstream.cache.hits", "Reads answered from the cache.")
	c.misses = counter(p, "vidstream.cache.misses", "Reads that loaded from the source and may have filled the cache.")
	c.bypassed = counter(p, "vidstream.cache.bypassed", "Reads that went to the source because the cache was disabled.")
	c.invalidated = counter(p, "vidstream.cache.invalidations", "Keys invalidated (whether or not they were cached).")
	if p.Meter != nil {
		_, err := p.Meter.Meter(instrumentationName).Int64ObservableGauge("vidstream.cache.enabled",
			metric.WithDescription("1 while the cache serves reads, 0 while it is bypassed."),
			metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
				c.mu.Lock()
				on := c.enabled
				c.mu.Unlock()
				v := int64(0)
				if on {
					v = 1
				}
				o.Observe(v, c.attrs)
				return nil
			}))
		if err != nil {
			p.Log().Error("create metric instrument", slog.String("name", "vidstream.cache.enabled"), slog.Any("error", err))
		}
	}
	return c, nil
}

func counter(p telemetry.Providers, name, desc string) metric.Int64Counter {
	if p.Meter == nil {
		return noopmetric.Int64Counter{}
	}
	c, err := p.Meter.Meter(instrumentationName).Int64Counter(name, metric.WithUnit("{read}"), metric.WithDescription(desc))
	if err != nil {
		// Telemetry must never take the data path down.
		p.Log().Error("create metric instrument", slog.String("name", name), slog.Any("error", err))
		return noopmetric.Int64Counter{}
	}
	return c
}

// Get returns key's cached value, or calls load and caches what it returns
// unless key was invalidated (or the cache cleared or disabled) while load
// ran. Errors are returned and never cached.
func (c *Cache[K, V]) Get(ctx context.Context, key K, load func(context.Context) (V, error)) (V, error) {
	c.mu.Lock()
	if !c.enabled {
		c.mu.Unlock()
		c.bypassed.Add(ctx, 1, c.attrs)
		return load(ctx)
	}
	if e, ok := c.lru.Get(key); ok {
		if c.ttl <= 0 || c.now().Before(e.expires) {
			c.mu.Unlock()
			c.hits.Add(ctx, 1, c.attrs)
			return e.v, nil
		}
		c.lru.Remove(key)
	}
	start := c.seq
	f := c.loads[key]
	if f == nil {
		f = &inflight{}
		c.loads[key] = f
	}
	f.n++
	c.mu.Unlock()
	c.misses.Add(ctx, 1, c.attrs)

	return c.load(ctx, key, load, f, start)
}

// load runs load and stores its result if it is still current; the
// in-flight record is released even if load panics.
func (c *Cache[K, V]) load(ctx context.Context, key K, load func(context.Context) (V, error), f *inflight, start uint64) (v V, err error) {
	loaded := false
	defer func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		f.n--
		if f.n == 0 {
			delete(c.loads, key)
		}
		if !loaded {
			return
		}
		if !c.enabled || f.invalidatedAt > start || c.clearedAt > start {
			return // superseded while it loaded: the value may predate a change
		}
		var expires time.Time
		if c.ttl > 0 {
			expires = c.now().Add(c.ttl)
		}
		c.lru.Add(key, entry[V]{v: v, expires: expires})
	}()
	v, err = load(ctx)
	loaded = err == nil
	return v, err
}

// Invalidate drops keys: no Get after it returns serves a value loaded
// before it was called.
func (c *Cache[K, V]) Invalidate(ctx context.Context, keys ...K) {
	c.mu.Lock()
	c.seq++
	for _, k := range keys {
		c.lru.Remove(k)
		if f := c.loads[k]; f != nil {
			f.invalidatedAt = c.seq
		}
	}
	c.mu.Unlock()
	c.invalidated.Add(ctx, int64(len(keys)), c.attrs)
}

// Clear drops every entry and every load under way.
func (c *Cache[K, V]) Clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.clearLocked()
}

func (c *Cache[K, V]) clearLocked() {
	c.seq++
	c.clearedAt = c.seq
	c.lru.Purge()
}

// SetEnabled turns the cache on or off. Either way it starts over empty:
// while it was off, changes may have gone unheard.
func (c *Cache[K, V]) SetEnabled(on bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.clearLocked()
	c.enabled = on
}

// Enabled reports whether Get may serve from the cache.
func (c *Cache[K, V]) Enabled() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.enabled
}

// Len is the number of entries held, expired ones included.
func (c *Cache[K, V]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}
