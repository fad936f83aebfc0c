// Package cacheinval tells every replica of a service to drop cached copies
// of what one replica changed, over Redis Pub/Sub (github.com/redis/go-redis/v9).
//
// Pub/Sub delivers at most once and only to subscribers connected at the
// time, so the Bus never trusts a cache it cannot vouch for: the cache is
// disabled (reads bypass it) from the moment the subscription fails or an
// invalidation cannot be published, and it is enabled, empty, only when
// the server confirms the subscription again and every invalidation that
// failed to go out has been published. A replica therefore serves a cached
// value only while it is subscribed, and it has been subscribed since
// before the value was loaded.
//
// Pub/Sub messages have no headers: an invalidation is a small JSON
// Envelope carrying the keys, the publishing replica and the W3C trace
// context of the change that caused it.
package cacheinval

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	noopmetric "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/vidstream/vidstream/services/internal/telemetry"
)

// DefaultChannel is the video catalog's invalidation channel.
const DefaultChannel = "vidstream.videos.invalidate"

const instrumentationName = "github.com/vidstream/vidstream/services/internal/cacheinval"

// Target is the cache the Bus keeps honest; *readcache.Cache[string, V]
// is one.
type Target interface {
	// Invalidate drops keys. It must not return before a read that starts
	// after it can no longer see the dropped values.
	Invalidate(ctx context.Context, keys ...string)
	// SetEnabled turns serving from the cache on or off; either way the
	// cache starts over empty.
	SetEnabled(on bool)
}

// Envelope is the JSON body of an invalidation message.
type Envelope struct {
	// ID identifies the message (messaging.message.id on its spans).
	ID string `json:"id"`
	// Keys are the cache keys to drop (the video ids).
	Keys []string `json:"keys,omitempty"`
	// All asks every replica to drop everything: sent instead of a list of
	// keys that grew too long while Redis was unreachable.
	All bool `json:"all,omitempty"`
	// Source names the publishing replica.
	Source string `json:"source"`
	// Traceparent and Tracestate are the W3C trace context of the send
	// span, the headers Pub/Sub does not have.
	Traceparent string `json:"traceparent,omitempty"`
	Tracestate  string `json:"tracestate,omitempty"`
}

// Options configure a Bus. URL is required.
type Options struct {
	// URL is the Redis server, redis://[user:password@]host:port/db (or
	// rediss:// for TLS).
	URL string
	// Channel defaults to DefaultChannel; tests use one of their own.
	Channel string
	// Source names this replica in the messages it sends; default
	// <hostname>-<random>, unique per process.
	Source string
	// HealthInterval is how long the subscription may stay silent before
	// the Bus pings through it, and how long a ping may go unanswered
	// before the connection is taken for dead (default 1s). A Redis that
	// closes the connection is noticed at once; this bounds how long a
	// silently lost one goes unnoticed.
	HealthInterval time.Duration
	// PublishTimeout bounds one publish (default 1s): a write waits for it.
	PublishTimeout time.Duration
	// MaxPending bounds the keys kept for republishing while publishing
	// fails; beyond it the Bus sends one "drop everything" instead
	// (default 10000).
	MaxPending int
}

func (o Options) withDefaults() Options {
	if o.Channel == "" {
		o.Channel = DefaultChannel
	}
	if o.Source == "" {
		o.Source = defaultSource()
	}
	if o.HealthInterval <= 0 {
		o.HealthInterval = time.Second
	}
	if o.PublishTimeout <= 0 {
		o.PublishTimeout = time.Second
	}
	if o.MaxPending <= 0 {
		o.MaxPending = 10000
	}
	return o
}

func defaultSource() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "replica"
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	return host + "-" + hex.EncodeToString(b[:])
}

// Bus publishes and receives invalidations for one Target. Publish may be
// called from any goroutine; Run delivers.
type Bus struct {
	opts   Options
	client *redis.Client
	target Target
	log    *slog.Logger
	tracer trace.Tracer
	prop   propagation.TextMapPropagator

	sent, received metric.Int64Counter

	mu sync.Mutex
	// pending are keys whose invalidation could not be published; while
	// any are, this replica's cache stays off.
	pending    map[string]struct{}
	pendingAll bool
	// subscribed is true between a subscription confirmation and the next
	// failure of the subscription.
	subscribed bool
	// on is what the target was last set to; it changes only under mu.
	on bool
}

// New returns a Bus for target; it connects to nothing until Run or
// Publish. The target should start disabled; Run enables it.
func New(opts Options, target Target, p telemetry.Providers) (*Bus, error) {
	if opts.URL == "" {
		return nil, errors.New("cacheinval: empty Redis URL")
	}
	if target == nil {
		return nil, errors.New("cacheinval: nil target")
	}
	ro, err := redis.ParseURL(opts.URL)
	if err != nil {
		// Not echoing the URL: it may hold a password.
		return nil, errors.New("cacheinval: Redis URL must be redis://host:port/db or rediss://")
	}
	opts = opts.withDefaults()
	// Fail fast and retry ourselves: while a call waits, the cache is off.
	ro.DialTimeout = opts.PublishTimeout
	ro.MaxRetries = -1
	ro.ClientName = opts.Source
	// The identity and maintenance handshakes are extras some servers
	// (and the embedded one) refuse; they add nothing here.
	ro.DisableIdentity = true
	p = p.OrNoop()
	b := &Bus{
		opts:    opts,
		client:  redis.NewClient(ro),
		target:  target,
		log:     p.Log().With(slog.String("component", "cache-invalidation"), slog.String("channel", opts.Channel)),
		tracer:  p.Tracer.Tracer(instrumentationName),
		prop:    p.Propagator,
		pending: map[string]struct{}{},
	}
	b.sent = counter(p, "vidstream.cache.invalidations.sent", "{message}", "Invalidation messages published, by outcome.")
	b.received = counter(p, "vidstream.cache.invalidations.received", "{message}", "Invalidation messages received, own included.")
	return b, nil
}

// Source is the name this replica publishes under.
func (b *Bus) Source() string { return b.opts.Source }

// Channel is the Pub/Sub channel.
func (b *Bus) Channel() string { return b.opts.Channel }

// Publish drops keys here and tells every replica to drop them. Call it
// after the change is committed: a replica that reads the source after the
// message arrives must see the change. It does not fail: when the message
// cannot be sent, this replica bypasses its cache and Run keeps trying, so
// the other replicas hear of the change late (if Redis itself went away,
// they clear their caches when they reconnect anyway). Only if this
// replica stops before it could republish do they not hear of it at all;
// the TTL bounds that case.
func (b *Bus) Publish(ctx context.Context, keys ...string) {
	if len(keys) == 0 {
		return
	}
	// This replica does not wait for its own message to come back: the
	// writer's next read must see its write.
	b.target.Invalidate(ctx, keys...)
	if err := b.send(ctx, Envelope{Keys: keys}); err != nil {
		b.mu.Lock()
		for _, k := range keys {
			b.pending[k] = struct{}{}
		}
		if len(b.pending) > b.opts.MaxPending {
			b.pending, b.pendingAll = map[string]struct{}{}, true
		}
		b.setEnabledLocked(false)
		b.mu.Unlock()
		b.log.WarnContext(ctx, "invalidation not published; cache bypassed until it is", slog.Int("keys", len(keys)), slog.Any("error", err))
	}
}

// send publishes one envelope under a PRODUCER span.
func (b *Bus) send(ctx context.Context, env Envelope) error {
	// The write has committed; its caller going away must not stop the news.
	ctx = context.WithoutCancel(ctx)
	env.ID = uuid.NewString()
	env.Source = b.opts.Source
	ctx, span := b.tracer.Start(ctx, "send "+b.opts.Channel,
		trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(b.spanAttrs("send", semconv.MessagingOperationTypeSend, env)...))
	defer span.End()
	carrier := propagation.MapCarrier{}
	b.prop.Inject(ctx, carrier)
	env.Traceparent, env.Tracestate = carrier.Get("traceparent"), carrier.Get("tracestate")
	body, err := json.Marshal(env)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, "encode failed")
		return fmt.Errorf("encode invalidation: %w", err)
	}
	span.SetAttributes(semconv.MessagingMessageBodySize(len(body)))
	pctx, cancel := context.WithTimeout(ctx, b.opts.PublishTimeout)
	defer cancel()
	err = b.client.Publish(pctx, b.opts.Channel, body).Err()
	outcome := "ok"
	if err != nil {
		outcome = "failed"
		span.RecordError(err)
		span.SetStatus(codes.Error, "publish failed")
		err = fmt.Errorf("publish on %s: %w", b.opts.Channel, err)
	}
	b.sent.Add(ctx, 1, metric.WithAttributes(attribute.String("outcome", outcome)))
	return err
}

func (b *Bus) spanAttrs(op string, typ attribute.KeyValue, env Envelope) []attribute.KeyValue {
	attrs := []attribute.KeyValue{
		semconv.MessagingSystemKey.String("redis"),
		semconv.MessagingOperationName(op),
		typ,
		semconv.MessagingDestinationName(b.opts.Channel),
		attribute.Int("vidstream.cache.keys", len(env.Keys)),
		attribute.String("vidstream.cache.source", env.Source),
	}
	if env.ID != "" {
		attrs = append(attrs, semconv.MessagingMessageID(env.ID))
	}
	if env.All {
		attrs = append(attrs, attribute.Bool("vidstream.cache.all", true))
	}
	return attrs
}

// Run subscribes and applies invalidations until ctx ends, reconnecting
// after failures with a capped backoff; it closes the Redis client on its
// way out. The target is enabled only while the subscription is confirmed
// and nothing is left to republish.
func (b *Bus) Run(ctx context.Context) error {
	defer func() {
		b.down()
		if err := b.client.Close(); err != nil {
			b.log.WarnContext(context.WithoutCancel(ctx), "close Redis client", slog.Any("error", err))
		}
	}()
	const minWait, maxWait = 50 * time.Millisecond, 2 * time.Second
	wait := minWait
	for ctx.Err() == nil {
		wasUp, err := b.session(ctx)
		b.down()
		if ctx.Err() != nil {
			break
		}
		if wasUp {
			wait = minWait
		}
		b.log.WarnContext(ctx, "invalidation subscription lost; cache bypassed", slog.Any("error", err), slog.Duration("retry_in", wait))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
		wait = min(wait*2, maxWait)
	}
	return nil
}

func (b *Bus) down() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.subscribed = false
	b.setEnabledLocked(false)
}

// setEnabledLocked switches the target on a change of state only:
// switching empties it.
func (b *Bus) setEnabledLocked(on bool) {
	if b.on != on {
		b.on = on
		b.target.SetEnabled(on)
	}
}

// session is one subscription, from SUBSCRIBE until the connection fails.
func (b *Bus) session(ctx context.Context) (wasUp bool, err error) {
	ps := b.client.Subscribe(ctx, b.opts.Channel)
	defer func() { _ = ps.Close() }()
	// A receive blocks in a read that ctx does not reach; closing the
	// connection ends it at once on shutdown.
	stop := context.AfterFunc(ctx, func() { _ = ps.Close() })
	defer stop()
	pinged := false
	for {
		if err := b.flushPending(ctx); err != nil {
			return wasUp, err
		}
		msg, err := ps.ReceiveTimeout(ctx, b.opts.HealthInterval)
		if err != nil {
			if ctx.Err() != nil {
				return wasUp, nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && !pinged {
				// Quiet is fine if the server still answers.
				if err := ps.Ping(ctx); err != nil {
					return wasUp, fmt.Errorf("ping: %w", err)
				}
				pinged = true
				continue
			}
			return wasUp, fmt.Errorf("receive: %w", err)
		}
		pinged = false
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" && m.Channel == b.opts.Channel {
				// Whatever happened while unsubscribed went unheard:
				// enabling (in flushPending) starts the cache empty.
				b.mu.Lock()
				b.subscribed = true
				b.target.SetEnabled(b.on) // empty it even if it was on
				b.mu.Unlock()
				if err := b.flushPending(ctx); err != nil {
					return wasUp, err
				}
				wasUp = true
				b.log.InfoContext(ctx, "invalidation subscription confirmed; cache starts empty")
			}
		case *redis.Message:
			b.receive(ctx, m.Payload)
		case *redis.Pong:
		}
	}
}

// flushPending republishes what failed to go out and, once nothing is
// left and the subscription is confirmed, enables the cache (empty).
func (b *Bus) flushPending(ctx context.Context) error {
	b.mu.Lock()
	keys := make([]string, 0, len(b.pending))
	for k := range b.pending {
		keys = append(keys, k)
	}
	all, subscribed := b.pendingAll, b.subscribed
	b.mu.Unlock()
	if !subscribed {
		return nil
	}
	if all || len(keys) > 0 {
		if err := b.send(ctx, Envelope{Keys: keys, All: all}); err != nil {
			return err
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, k := range keys {
		delete(b.pending, k)
	}
	if all {
		b.pendingAll = false
	}
	if len(b.pending) > 0 || b.pendingAll {
		return nil // more failed meanwhile; the next round sends them
	}
	// Under b.mu, so that a Publish failing now disables after this.
	b.setEnabledLocked(true)
	return nil
}

// receive applies one message under a CONSUMER span, child of and linked to
// the publisher's span (as kafkabus does), so the change's trace shows
// every replica dropping its copy.
func (b *Bus) receive(ctx context.Context, payload string) {
	var env Envelope
	decodeErr := json.Unmarshal([]byte(payload), &env)
	carrier := propagation.MapCarrier{"traceparent": env.Traceparent}
	if env.Tracestate != "" {
		carrier["tracestate"] = env.Tracestate
	}
	pctx := b.prop.Extract(ctx, carrier)
	opts := []trace.SpanStartOption{
		trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(append(b.spanAttrs("process", semconv.MessagingOperationTypeProcess, env),
			semconv.MessagingMessageBodySize(len(payload)))...),
	}
	if producer := trace.SpanContextFromContext(pctx); producer.IsValid() {
		opts = append(opts, trace.WithLinks(trace.Link{SpanContext: producer}))
	}
	pctx, span := b.tracer.Start(pctx, "process "+b.opts.Channel, opts...)
	defer span.End()
	own := env.Source == b.opts.Source
	b.received.Add(pctx, 1, metric.WithAttributes(attribute.Bool("own", own)))
	switch {
	case decodeErr != nil:
		// It meant to invalidate something; not knowing what, drop all.
		span.RecordError(decodeErr)
		span.SetStatus(codes.Error, "undecodable invalidation; cache cleared")
		b.log.WarnContext(pctx, "undecodable invalidation; cache cleared", slog.Any("error", decodeErr))
		b.clear()
	case env.All:
		b.clear()
	default:
		b.target.Invalidate(pctx, env.Keys...)
	}
}

// clear empties the target, leaving it on or off.
func (b *Bus) clear() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.target.SetEnabled(b.on)
}

func counter(p telemetry.Providers, name, unit, desc string) metric.Int64Counter {
	if p.Meter == nil {
		return noopmetric.Int64Counter{}
	}
	c, err := p.Meter.Meter(instrumentationName).Int64Counter(name, metric.WithUnit(unit), metric.WithDescription(desc))
	if err != nil {
		p.Log().Error("create metric instrument", slog.String("name", name), slog.Any("error", err))
		return noopmetric.Int64Counter{}
	}
	return c
}
