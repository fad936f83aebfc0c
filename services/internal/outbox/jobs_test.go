package outbox_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"google.golang.org/protobuf/proto"

	"github.com/vidstream/vidstream/services/api/events"
	jobsv1 "github.com/vidstream/vidstream/services/api/jobs/v1"
	"github.com/vidstream/vidstream/services/internal/database"
	"github.com/vidstream/vidstream/services/internal/database/databasetest"
	"github.com/vidstream/vidstream/services/internal/kafkabus"
	"github.com/vidstream/vidstream/services/internal/kafkabus/kafkatest"
	"github.com/vidstream/vidstream/services/internal/outbox"
	"github.com/vidstream/vidstream/services/internal/telemetry/telemetrytest"
	"github.com/vidstream/vidstream/services/internal/workqueue"
	"github.com/vidstream/vidstream/services/internal/workqueue/workqueuetest"
)

type countingJobPublisher struct {
	outbox.JobPublisher
	failures atomic.Int64
}

func (c *countingJobPublisher) Publish(ctx context.Context, msgs ...workqueue.Message) error {
	err := c.JobPublisher.Publish(ctx, msgs...)
	if err != nil {
		c.failures.Add(1)
	}
	return err
}

// Jobs enqueued while RabbitMQ is unreachable wait in the outbox and all
// arrive once it is back, each under a send span that is a child of the
// request that enqueued it; the events for Kafka in the same table are
// left to the Kafka relay.
func TestJobsWaitWhileRabbitMQIsDownAndAllArriveAfter(t *testing.T) {
	url := workqueuetest.URL(t)
	databasetest.ForEachBackend(t, nil, func(t *testing.T, db *database.DB) {
		migrated(t, db)
		topo := workqueuetest.Topology(t, url, events.TranscodeQueue, time.Second)
		proxy, viaProxy := workqueuetest.NewProxy(t, url)
		proxy.Cut()
		p, spans := telemetrytest.New(t)
		ob := outbox.New(db, "/services/video", p)
		pub := &countingJobPublisher{JobPublisher: workqueue.NewPublisher(viaProxy, p, workqueue.WithTopology(topo))}
		runRelay(t, outbox.NewJobRelay(db, pub, p, outbox.RelayOptions{
			PollInterval: 10 * time.Millisecond,
			Backoff:      kafkabus.Backoff{Initial: 5 * time.Millisecond, Max: 100 * time.Millisecond},
			Wake:         ob.Wakeups(),
		}))

		ctx, request := p.Tracer.Tracer("test").Start(t.Context(), "POST /v1/videos")
		enqueue(ctx, t, db, ob, outbox.Event{Topic: "vidstream.videos.v1", Key: "video-0", Payload: progressed("u", 1)})
		const n = 40
		for i := range n {
			enqueue(ctx, t, db, ob, outbox.Event{Queue: topo.Queue, Key: fmt.Sprintf("video-%d", i%5),
				Payload: &jobsv1.TranscodeRequested{VideoId: fmt.Sprintf("video-%d", i%5), DurationSeconds: int32(i)}})
			ob.Notify()
		}
		request.End()
		kafkatest.Eventually(t, func() error {
			if f := pub.failures.Load(); f < 2 {
				return fmt.Errorf("%d failed publishes so far, want the relay to have retried", f)
			}
			return nil
		})
		if got := backlog(t, db); got != n+1 {
			t.Fatalf("outbox holds %d rows while RabbitMQ is down, want %d", got, n+1)
		}

		proxy.Restore()
		kafkatest.Eventually(t, func() error {
			if got := backlog(t, db); got != 1 {
				return fmt.Errorf("%d rows in the outbox, want only the Kafka event's", got)
			}
			return nil
		})

		var mu sync.Mutex
		got := map[string]workqueue.Message{}
		c, err := workqueue.NewConsumer(workqueue.ConsumerConfig{URL: url, Topology: topo, Prefetch: 8},
			func(_ context.Context, m workqueue.Message) error {
				mu.Lock()
				defer mu.Unlock()
				got[m.ID] = m
				return nil
			}, p)
		if err != nil {
			t.Fatal(err)
		}
		cctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- c.Run(cctx) }()
		defer func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("consumer Run: %v", err)
			}
		}()
		kafkatest.Eventually(t, func() error {
			mu.Lock()
			defer mu.Unlock()
			if len(got) != n {
				return fmt.Errorf("%d distinct jobs consumed, want %d", len(got), n)
			}
			return nil
		})
		mu.Lock()
		defer mu.Unlock()
		for _, m := range got {
			var job jobsv1.TranscodeRequested
			if err := proto.Unmarshal(m.Body, &job); err != nil || job.GetVideoId() != m.Key {
				t.Errorf("job %s: body %v (%v), key %q", m.ID, &job, err, m.Key)
			}
			if m.Type != events.Type(topo.Queue, &jobsv1.TranscodeRequested{}) || m.Source != "/services/video" || m.Time.IsZero() || m.Attempt != 1 {
				t.Errorf("job %s: type %q, source %q, time %v, attempt %d", m.ID, m.Type, m.Source, m.Time, m.Attempt)
			}
		}

		// Every job: send span child of the request, process span child
		// of its send span.
		stubs := tracetest.SpanStubsFromReadOnlySpans(spans.Ended())
		sends := map[string]tracetest.SpanStub{}
		for _, s := range stubs {
			if s.Name == "send "+topo.Queue && s.Status.Code != 2 /* codes.Error */ {
				sends[s.SpanContext.SpanID().String()] = s
				if s.Parent.SpanID() != request.SpanContext().SpanID() {
					t.Errorf("send span's parent %s, want the request span", s.Parent.SpanID())
				}
			}
		}
		processed := 0
		for _, s := range stubs {
			if s.Name == "process "+topo.Queue {
				if _, ok := sends[s.Parent.SpanID().String()]; !ok {
					t.Errorf("process span's parent %s is no successful send span", s.Parent.SpanID())
				}
				processed++
			}
		}
		if processed != n {
			t.Errorf("%d process spans, want %d", processed, n)
		}
	})
}

// failingJobPublisher fails the jobs whose Key and Body match fail, once.
type failingJobPublisher struct {
	mu     sync.Mutex
	failed bool
	sent   []workqueue.Message
}

func (f *failingJobPublisher) Publish(_ context.Context, msgs ...workqueue.Message) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	errs := make(workqueue.PublishErrors, len(msgs))
	failedAny := false
	for i, m := range msgs {
		if !f.failed && m.Key == "a" {
			f.failed = true
			failedAny = true
			errs[i] = workqueue.ErrNacked
			continue
		}
		f.sent = append(f.sent, m)
	}
	if failedAny {
		return errs
	}
	return nil
}

// When a job of a key is not confirmed, the key's later jobs of the batch
// stay in the outbox even though the broker took them, and go again after
// the failed one: the last copy of each arrives in commit order.
func TestJobRelayKeepsAKeysLaterJobsAfterAFailure(t *testing.T) {
	db := databasetest.OpenSQLite(t, nil)
	migrated(t, db)
	p, _ := telemetrytest.New(t)
	ob := outbox.New(db, "/services/video", p)
	for i, key := range []string{"a", "b", "a", "b"} {
		enqueue(t.Context(), t, db, ob, outbox.Event{Queue: "q", Key: key, Payload: &jobsv1.TranscodeRequested{VideoId: key, DurationSeconds: int32(i)}})
	}
	pub := &failingJobPublisher{}
	r := outbox.NewJobRelay(db, pub, p, outbox.RelayOptions{})
	n, err := r.RunOnce(t.Context())
	if !errors.Is(err, workqueue.ErrNacked) || n != 2 {
		t.Fatalf("first pass: %d sent, %v; want the two of b and ErrNacked", n, err)
	}
	if got := backlog(t, db); got != 2 {
		t.Fatalf("%d rows left, want both of a", got)
	}
	if n, err := r.RunOnce(t.Context()); err != nil || n != 2 {
		t.Fatalf("second pass: %d sent, %v", n, err)
	}
	var aOrder []int32
	for _, m := range pub.sent {
		if m.Key == "a" {
			var job jobsv1.TranscodeRequested
			if err := proto.Unmarshal(m.Body, &job); err != nil {
				t.Fatal(err)
			}
			aOrder = append(aOrder, job.GetDurationSeconds())
		}
	}
	// a#2 went out in the first pass (after a#0 failed), then a#0 and a#2
	// again: the last copies are in commit order.
	if len(aOrder) != 3 || aOrder[1] != 0 || aOrder[2] != 2 {
		t.Errorf("a's jobs sent in order %v, want [2 0 2]", aOrder)
	}
	if got := backlog(t, db); got != 0 {
		t.Errorf("%d rows left", got)
	}
}

// An event names a topic or a queue, never both.
func TestEnqueueRejectsTopicAndQueue(t *testing.T) {
	db := databasetest.OpenSQLite(t, nil)
	migrated(t, db)
	p, _ := telemetrytest.New(t)
	ob := outbox.New(db, "/services/video", p)
	err := db.InTx(t.Context(), func(tx *sql.Tx) error {
		return ob.Enqueue(t.Context(), tx, outbox.Event{Topic: "t", Queue: "q", Key: "k", Payload: &jobsv1.TranscodeRequested{}})
	})
	if err == nil {
		t.Fatal("Enqueue accepted an event with a topic and a queue")
	}
}
