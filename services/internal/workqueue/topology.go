package workqueue

import (
	"errors"
	"fmt"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/vidstream/vidstream/services/api/events"
)

// DefaultRetryDelay is how long a failed job waits before its next attempt
// unless the Topology says otherwise.
const DefaultRetryDelay = 5 * time.Second

// deliveryLimit bounds how often the broker hands out one copy of a job
// without an acknowledgement (a worker that crashes on it, every time)
// before it dead-letters it. The attempt header cannot count those: the
// worker dies before it can republish. Handler failures are retries, a new
// copy each time, and never get near this.
const deliveryLimit = 20

// Topology names a work queue and its two companions, and the retry delay.
// The queue names come from the contract (package events):
//
//	<Queue>        the work queue (quorum)
//	<Queue>.retry  failed jobs wait here RetryDelay, then go back to <Queue>
//	<Queue>.dlq    jobs that failed their last attempt, or for good
type Topology struct {
	// Queue is the work queue, e.g. events.TranscodeQueue. Tests prefix it
	// to get queues of their own on a shared broker.
	Queue string
	// RetryDelay is the retry queue's message TTL (the consumer's default
	// is DefaultRetryDelay). It is a property of the queue on the broker:
	// declaring the queue again with another delay fails
	// (PRECONDITION_FAILED) until the retry queue, which holds nothing for
	// longer than the old delay, is deleted. Zero declares the work queue
	// and the dead-letter queue only, which is what a producer needs: the
	// retry policy, and so the retry queue, is the consumer's.
	RetryDelay time.Duration
}

// RetryQueue is the name of the retry queue.
func (t Topology) RetryQueue() string { return events.Retry(t.Queue) }

// DLQ is the name of the dead-letter queue.
func (t Topology) DLQ() string { return events.DLQ(t.Queue) }

func (t Topology) withDefaults() Topology {
	if t.RetryDelay <= 0 {
		t.RetryDelay = DefaultRetryDelay
	}
	return t
}

// Declare creates t's three queues, or checks that they exist with the same
// arguments. It is idempotent, so every producer and consumer calls it on
// every (re)connect: whichever starts first creates them.
//
// All three are quorum queues: replicated (on a cluster) and durable, the
// queue type RabbitMQ recommends for data that must survive a broker
// restart. The retry queue's delay is its message TTL (x-message-ttl), which
// quorum queues support since RabbitMQ 3.10; every message in it has the
// same TTL, so they expire in order at its head. Both the work queue and
// the retry queue dead-letter with the at-least-once strategy (3.10 too),
// which needs reject-publish overflow: the broker then keeps a message
// until the target queue confirmed it, instead of the default
// fire-and-forget.
func Declare(ch *amqp.Channel, t Topology) error {
	if t.Queue == "" {
		return errors.New("workqueue: declare: empty queue name")
	}
	declare := func(name string, args amqp.Table) error {
		args["x-queue-type"] = "quorum"
		// durable, not auto-delete, not exclusive: the queue outlives
		// every client, as a work queue must.
		if _, err := ch.QueueDeclare(name, true, false, false, false, args); err != nil {
			return fmt.Errorf("workqueue: declare queue %s: %w", name, err)
		}
		return nil
	}
	if err := declare(t.DLQ(), amqp.Table{}); err != nil {
		return err
	}
	if err := declare(t.Queue, amqp.Table{
		"x-delivery-limit":          int32(deliveryLimit),
		"x-dead-letter-exchange":    "",
		"x-dead-letter-routing-key": t.DLQ(),
		"x-dead-letter-strategy":    "at-least-once",
		"x-overflow":                "reject-publish",
	}); err != nil {
		return err
	}
	if t.RetryDelay <= 0 {
		return nil
	}
	return declare(t.RetryQueue(), amqp.Table{
		"x-message-ttl":             t.RetryDelay.Milliseconds(),
		"x-dead-letter-exchange":    "",
		"x-dead-letter-routing-key": t.Queue,
		"x-dead-letter-strategy":    "at-least-once",
		"x-overflow":                "reject-publish",
	})
}

// Delete removes t's three queues and the jobs in them; for tests.
func Delete(ch *amqp.Channel, t Topology) error {
	var errs []error
	for _, q := range []string{t.Queue, t.RetryQueue(), t.DLQ()} {
		if _, err := ch.QueueDelete(q, false, false, false); err != nil {
			errs = append(errs, fmt.Errorf("workqueue: delete queue %s: %w", q, err))
		}
	}
	return errors.Join(errs...)
}
