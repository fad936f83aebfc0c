package workqueue_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/vidstream/vidstream/services/api/events"
	"github.com/vidstream/vidstream/services/internal/telemetry"
	"github.com/vidstream/vidstream/services/internal/telemetry/telemetrytest"
	"github.com/vidstream/vidstream/services/internal/workqueue"
	"github.com/vidstream/vidstream/services/internal/workqueue/workqueuetest"
)

const waitFor = 30 * time.Second

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func job(queue string, n int) workqueue.Message {
	return workqueue.Message{
		Queue:  queue,
		ID:     fmt.Sprintf("00000000-0000-7000-8000-%012d", n),
		Type:   events.TranscodeQueue + ".TranscodeRequested",
		Source: "/services/video",
		Time:   time.Date(2026, 12, 6, 1, 2, 3, 4000, time.UTC),
		Key:    "video-" + strconv.Itoa(n),
		Body:   []byte("job " + strconv.Itoa(n)),
	}
}

// start runs c until the test ends or the returned stop is called; stop
// returns when Run has.
func start(t *testing.T, c *workqueue.Consumer) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// recorder is a Handler that records what it got and fails as told.
type recorder struct {
	mu   sync.Mutex
	got  []workqueue.Message
	fail func(workqueue.Message) error
}

func (r *recorder) handle(_ context.Context, m workqueue.Message) error {
	r.mu.Lock()
	r.got = append(r.got, m)
	fail := r.fail
	r.mu.Unlock()
	if fail != nil {
		return fail(m)
	}
	return nil
}

func (r *recorder) messages() []workqueue.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

// attempts lists the attempts in which the job with id was seen.
func (r *recorder) attempts(id string) []int {
	var out []int
	for _, m := range r.messages() {
		if m.ID == id {
			out = append(out, m.Attempt)
		}
	}
	return out
}

func (r *recorder) ids() map[string]bool {
	out := map[string]bool{}
	for _, m := range r.messages() {
		out[m.ID] = true
	}
	return out
}

func newConsumer(t *testing.T, url string, topo workqueue.Topology, h workqueue.Handler, p telemetry.Providers, mod ...func(*workqueue.ConsumerConfig)) *workqueue.Consumer {
	t.Helper()
	cfg := workqueue.ConsumerConfig{URL: url, Topology: topo, Prefetch: 4, MaxAttempts: 3,
		ReconnectInitial: 20 * time.Millisecond, ReconnectMax: 200 * time.Millisecond}
	for _, m := range mod {
		m(&cfg)
	}
	c, err := workqueue.NewConsumer(cfg, h, p)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func newPublisher(t *testing.T, url string, topo workqueue.Topology, p telemetry.Providers) *workqueue.Publisher {
	t.Helper()
	pub := workqueue.NewPublisher(url, p, workqueue.WithTopology(topo))
	t.Cleanup(func() { _ = pub.Close() })
	return pub
}

// The message reaches the broker persistent, with the CloudEvents AMQP
// binding's application properties, the attempt header and the standard
// properties; the consumer reads it back field for field.
func TestPublishAndConsume(t *testing.T) {
	t.Parallel()
	url := workqueuetest.URL(t)
	topo := workqueuetest.Topology(t, url, events.TranscodeQueue, time.Second)
	pub := newPublisher(t, url, topo, telemetry.Noop())

	raw := job(topo.Queue, 1)
	raw.Headers = map[string]string{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
	if err := pub.Publish(t.Context(), raw); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	d, ok := workqueuetest.Get(t, url, topo.Queue)
	if !ok {
		t.Fatal("queue empty after a confirmed publish")
	}
	if d.DeliveryMode != amqp.Persistent || d.ContentType != "application/protobuf" || d.MessageId != raw.ID {
		t.Errorf("properties: delivery mode %d, content-type %q, message-id %q", d.DeliveryMode, d.ContentType, d.MessageId)
	}
	want := amqp.Table{
		"cloudEvents:specversion": "1.0",
		"cloudEvents:id":          raw.ID,
		"cloudEvents:type":        "vidstream.transcode.TranscodeRequested",
		"cloudEvents:source":      "/services/video",
		"cloudEvents:time":        "2026-12-06T01:02:03.000004Z",
		"x-vidstream-attempt":     int32(1),
		"x-vidstream-key":         "video-1",
		"traceparent":             raw.Headers["traceparent"],
	}
	for k, v := range want {
		if d.Headers[k] != v {
			t.Errorf("header %s = %#v, want %#v", k, d.Headers[k], v)
		}
	}

	var rec recorder
	start(t, newConsumer(t, url, topo, rec.handle, telemetry.Noop()))
	sent := []workqueue.Message{job(topo.Queue, 2), job(topo.Queue, 3), job(topo.Queue, 4)}
	if err := pub.Publish(t.Context(), sent...); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	eventually(t, "three jobs handled", func() bool { return len(rec.messages()) == 3 })
	// Handlers run concurrently (prefetch 4), so they may finish in any
	// order; match jobs by id.
	byID := map[string]workqueue.Message{}
	for _, m := range rec.messages() {
		byID[m.ID] = m
	}
	for i, w := range sent {
		got := byID[w.ID]
		if got.ID != w.ID || got.Type != w.Type || got.Source != w.Source || !got.Time.Equal(w.Time) ||
			got.Key != w.Key || string(got.Body) != string(w.Body) || got.Attempt != 1 || got.Queue != topo.Queue || got.Redelivered {
			t.Errorf("job %d: got %+v, want %+v", i, got, w)
		}
	}
}

// A message to a queue that does not exist is no silent success.
func TestPublishUnroutable(t *testing.T) {
	t.Parallel()
	url := workqueuetest.URL(t)
	pub := workqueue.NewPublisher(url, telemetry.Noop())
	t.Cleanup(func() { _ = pub.Close() })
	err := pub.Publish(t.Context(), job("test-no-such-queue-"+strconv.FormatInt(time.Now().UnixNano(), 36), 1))
	var perrs workqueue.PublishErrors
	if !errors.Is(err, workqueue.ErrUnroutable) || !errors.As(err, &perrs) || len(perrs) != 1 {
		t.Fatalf("Publish to a missing queue: %v, want ErrUnroutable in a PublishErrors of 1", err)
	}
}

// The consumer's process span is a child of the producer's send span and
// links to it; both carry the messaging attributes.
func TestTraceContinuesFromProducer(t *testing.T) {
	t.Parallel()
	url := workqueuetest.URL(t)
	topo := workqueuetest.Topology(t, url, events.TranscodeQueue, time.Second)
	p, spans := telemetrytest.New(t)
	pub := newPublisher(t, url, topo, p)
	var rec recorder
	start(t, newConsumer(t, url, topo, rec.handle, p))

	m := job(topo.Queue, 1)
	ctx, send := workqueue.StartSendSpan(t.Context(), p.Tracer.Tracer("test"), m)
	p.Propagator.Inject(ctx, workqueue.Carrier(&m))
	if err := pub.Publish(ctx, m); err != nil {
		t.Fatal(err)
	}
	send.End()

	var process tracetest.SpanStub
	eventually(t, "the process span", func() bool {
		for _, s := range tracetest.SpanStubsFromReadOnlySpans(spans.Ended()) {
			if s.Name == "process "+topo.Queue {
				process = s
				return true
			}
		}
		return false
	})
	sc := send.SpanContext()
	if process.Parent.SpanID() != sc.SpanID() || process.SpanContext.TraceID() != sc.TraceID() {
		t.Errorf("process span's parent %s/%s, want the send span %s/%s",
			process.SpanContext.TraceID(), process.Parent.SpanID(), sc.TraceID(), sc.SpanID())
	}
	if len(process.Links) != 1 || process.Links[0].SpanContext.SpanID() != sc.SpanID() {
		t.Errorf("process span links %v, want one to the send span", process.Links)
	}
	if process.SpanKind != trace.SpanKindConsumer {
		t.Errorf("process span kind %v", process.SpanKind)
	}
	wantAttrs := map[attribute.Key]string{
		"messaging.system":            "rabbitmq",
		"messaging.destination.name":  topo.Queue,
		"messaging.operation.type":    "process",
		"messaging.operation.name":    "process",
		"messaging.message.id":        m.ID,
		"vidstream.workqueue.outcome": "acked",
	}
	checkAttrs(t, "process", process.Attributes, wantAttrs)
	for _, s := range tracetest.SpanStubsFromReadOnlySpans(spans.Ended()) {
		if s.Name == "send "+topo.Queue {
			if s.SpanKind != trace.SpanKindProducer {
				t.Errorf("send span kind %v", s.SpanKind)
			}
			checkAttrs(t, "send", s.Attributes, map[attribute.Key]string{
				"messaging.system":           "rabbitmq",
				"messaging.destination.name": topo.Queue,
				"messaging.operation.type":   "send",
				"messaging.message.id":       m.ID,
			})
		}
	}
}

func checkAttrs(t *testing.T, span string, attrs []attribute.KeyValue, want map[attribute.Key]string) {
	t.Helper()
	got := map[attribute.Key]string{}
	for _, a := range attrs {
		got[a.Key] = a.Value.String()
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s span: %s = %q, want %q", span, k, got[k], v)
		}
	}
}

// A job that fails every time is tried MaxAttempts times, attempt 1, 2, 3,
// each after the retry delay, then lands in the dead-letter queue with the
// reason; jobs sent after it keep flowing.
func TestFailingJobRetriesThenDeadLetters(t *testing.T) {
	t.Parallel()
	url := workqueuetest.URL(t)
	topo := workqueuetest.Topology(t, url, events.TranscodeQueue, 100*time.Millisecond)
	pub := newPublisher(t, url, topo, telemetry.Noop())
	poison := job(topo.Queue, 1)
	rec := recorder{fail: func(m workqueue.Message) error {
		if m.ID == poison.ID {
			return errors.New("renderer crashed")
		}
		return nil
	}}
	start(t, newConsumer(t, url, topo, rec.handle, telemetry.Noop()))

	if err := pub.Publish(t.Context(), poison); err != nil {
		t.Fatal(err)
	}
	eventually(t, "three attempts", func() bool { return len(rec.attempts(poison.ID)) == 3 })
	var dead amqp.Delivery
	eventually(t, "the job in the dead-letter queue", func() bool {
		d, ok := workqueuetest.Get(t, url, topo.DLQ())
		dead = d
		return ok
	})
	if got := rec.attempts(poison.ID); !slices.Equal(got, []int{1, 2, 3}) {
		t.Errorf("attempts %v, want [1 2 3]", got)
	}
	if dead.MessageId != poison.ID || string(dead.Body) != string(poison.Body) {
		t.Errorf("dead-lettered %q %q, want the poison job", dead.MessageId, dead.Body)
	}
	for k, v := range map[string]any{
		"x-vidstream-error":          "renderer crashed",
		"x-vidstream-permanent":      "false",
		"x-vidstream-attempt":        int32(3),
		"x-vidstream-original-queue": topo.Queue,
		"cloudEvents:id":             poison.ID,
	} {
		if dead.Headers[k] != v {
			t.Errorf("dead-lettered header %s = %#v, want %#v", k, dead.Headers[k], v)
		}
	}

	// Later jobs are not held up, and the poison job does not come back.
	later := []workqueue.Message{job(topo.Queue, 2), job(topo.Queue, 3)}
	if err := pub.Publish(t.Context(), later...); err != nil {
		t.Fatal(err)
	}
	eventually(t, "later jobs handled", func() bool {
		ids := rec.ids()
		return ids[later[0].ID] && ids[later[1].ID]
	})
	if got := rec.attempts(poison.ID); len(got) != 3 {
		t.Errorf("poison job tried %d times, want 3", len(got))
	}
	if _, ok := workqueuetest.Get(t, url, topo.DLQ()); ok {
		t.Error("a second message in the dead-letter queue")
	}
}

// A permanent failure, or a message without the envelope, goes to the
// dead-letter queue at once.
func TestMalformedJobDeadLettersAtOnce(t *testing.T) {
	t.Parallel()
	url := workqueuetest.URL(t)
	topo := workqueuetest.Topology(t, url, events.TranscodeQueue, 100*time.Millisecond)
	pub := newPublisher(t, url, topo, telemetry.Noop())
	rec := recorder{fail: func(m workqueue.Message) error {
		return workqueue.Permanent(fmt.Errorf("decode %s: bad body", m.ID))
	}}
	start(t, newConsumer(t, url, topo, rec.handle, telemetry.Noop()))

	bad := job(topo.Queue, 1)
	if err := pub.Publish(t.Context(), bad); err != nil {
		t.Fatal(err)
	}
	// A foreign producer's message with no CloudEvents type at all.
	conn, err := amqp.Dial(url)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.PublishWithContext(t.Context(), "", topo.Queue, true, false,
		amqp.Publishing{MessageId: "no-envelope", Body: []byte("?"), DeliveryMode: amqp.Persistent}); err != nil {
		t.Fatal(err)
	}

	dead := map[string]amqp.Delivery{}
	eventually(t, "both in the dead-letter queue", func() bool {
		if d, ok := workqueuetest.Get(t, url, topo.DLQ()); ok {
			dead[d.MessageId] = d
		}
		return len(dead) == 2
	})
	if got := rec.attempts(bad.ID); !slices.Equal(got, []int{1}) {
		t.Errorf("permanently failing job tried in attempts %v, want [1]", got)
	}
	if got := rec.attempts("no-envelope"); len(got) != 0 {
		t.Errorf("handler ran for a message without an envelope")
	}
	if h := dead[bad.ID].Headers; h["x-vidstream-permanent"] != "true" || h["x-vidstream-error"] != "decode "+bad.ID+": bad body" {
		t.Errorf("dead-lettered headers %v", h)
	}
	if h := dead["no-envelope"].Headers; h["x-vidstream-permanent"] != "true" || h["x-vidstream-error"] == "" {
		t.Errorf("dead-lettered headers %v", h)
	}
}

// On cancel the consumer stops taking jobs, finishes those in flight and
// acknowledges them before Run returns.
func TestConsumerDrainsOnCancel(t *testing.T) {
	t.Parallel()
	url := workqueuetest.URL(t)
	topo := workqueuetest.Topology(t, url, events.TranscodeQueue, time.Second)
	pub := newPublisher(t, url, topo, telemetry.Noop())

	release := make(chan struct{})
	var mu sync.Mutex
	started, finished := 0, 0
	h := func(context.Context, workqueue.Message) error {
		mu.Lock()
		started++
		mu.Unlock()
		<-release
		mu.Lock()
		finished++
		mu.Unlock()
		return nil
	}
	c := newConsumer(t, url, topo, h, telemetry.Noop(), func(cfg *workqueue.ConsumerConfig) { cfg.Prefetch = 2 })
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()

	if err := pub.Publish(t.Context(), job(topo.Queue, 1), job(topo.Queue, 2), job(topo.Queue, 3)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "two jobs in flight", func() bool { mu.Lock(); defer mu.Unlock(); return started == 2 })
	cancel()
	select {
	case err := <-done:
		t.Fatalf("Run returned (%v) with jobs in flight", err)
	default:
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if started != 2 || finished != 2 {
		t.Errorf("started %d, finished %d; want 2 and 2 (the third job not taken)", started, finished)
	}
	// The two finished jobs were acknowledged; the third is still queued
	// (or back in it: a delivery handed out but not started is requeued,
	// which the queue applies asynchronously).
	eventually(t, "one job left in the queue", func() bool { return queueDepth(t, url, topo.Queue) == 1 })
}

func queueDepth(t *testing.T, url, queue string) int {
	t.Helper()
	conn, err := amqp.Dial(url)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	q, err := ch.QueueDeclarePassive(queue, true, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	return q.Messages
}

// The connection is cut mid-stream, twice: publisher and consumer
// reconnect, and every job whose publish was confirmed is handled.
func TestRecoversFromDroppedConnection(t *testing.T) {
	t.Parallel()
	url := workqueuetest.URL(t)
	topo := workqueuetest.Topology(t, url, events.TranscodeQueue, 100*time.Millisecond)
	proxy, viaProxy := workqueuetest.NewProxy(t, url)
	pub := newPublisher(t, viaProxy, topo, telemetry.Noop())
	var rec recorder
	start(t, newConsumer(t, viaProxy, topo, rec.handle, telemetry.Noop()))

	confirmed := map[string]bool{}
	failures := 0
	const total = 300
	for i := range total {
		switch i {
		case 100, 200:
			proxy.Cut()
		case 110, 210:
			proxy.Restore()
		}
		m := job(topo.Queue, i)
		// The caller retries a failed publish, as the outbox relay does;
		// while the proxy is cut every attempt fails.
		if err := pub.Publish(t.Context(), m); err != nil {
			failures++
			continue
		}
		confirmed[m.ID] = true
	}
	if failures == 0 {
		t.Fatal("no publish failed while the connection was cut: the test cut nothing")
	}
	eventually(t, "every confirmed job handled", func() bool {
		ids := rec.ids()
		for id := range confirmed {
			if !ids[id] {
				return false
			}
		}
		return true
	})
	t.Logf("%d of %d publishes confirmed, %d failed while cut; %d deliveries", len(confirmed), total, failures, len(rec.messages()))
}
