package workqueue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	amqp "github.com/rabbitmq/amqp091-go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/vidstream/vidstream/services/internal/telemetry"
)

// Errors a Publish reports per message (wrapped in a PublishErrors entry).
var (
	// ErrNacked: the broker refused the message (a queue's internal
	// error, an overflowing queue). Publishing it again may succeed.
	ErrNacked = errors.New("workqueue: broker nacked the message")
	// ErrUnroutable: no queue of that name exists. Declare it (or name
	// it in WithTopology) and publish again.
	ErrUnroutable = errors.New("workqueue: no queue to route the message to")
	// ErrChannelClosed: the channel or connection closed before the
	// broker confirmed the message, so whether it arrived is unknown.
	// Publishing it again is safe: consumers deduplicate on the id.
	ErrChannelClosed = errors.New("workqueue: channel closed before the broker confirmed the message")
)

// maxInFlight is how many messages Publish sends before it waits for their
// confirms. It bounds the returns the channel's listener must buffer, and
// the messages a failure leaves in doubt.
const maxInFlight = 256

// PublishErrors is the error of a Publish in which some messages failed:
// one entry per message, nil where the broker confirmed it.
type PublishErrors []error

func (e PublishErrors) Error() string {
	var n int
	var first error
	for _, err := range e {
		if err != nil {
			if first == nil {
				first = err
			}
			n++
		}
	}
	return fmt.Sprintf("%d of %d messages not confirmed: %v", n, len(e), first)
}

// Unwrap lets errors.Is find ErrNacked and the others.
func (e PublishErrors) Unwrap() []error {
	var out []error
	for _, err := range e {
		if err != nil {
			out = append(out, err)
		}
	}
	return out
}

// Publisher sends messages to work queues with publisher confirms. It is
// safe for concurrent use; calls are serialized on one channel, which
// keeps the messages of one call in their order on the broker.
//
// It connects on the first Publish and again on the first Publish after
// the connection was lost; it does not retry on its own. Its callers (the
// outbox relay) already retry with backoff, and a second retry loop here
// would only hide for how long the broker has been unreachable.
type Publisher struct {
	url      string
	name     string
	topology []Topology
	log      *slog.Logger
	sent     metric.Int64Counter

	mu      sync.Mutex
	conn    *amqp.Connection
	ch      *amqp.Channel
	returns chan amqp.Return
	closed  bool
}

// PublisherOption tunes NewPublisher.
type PublisherOption func(*Publisher)

// WithTopology declares the queues of ts on every (re)connect, so the
// first job a service sends does not wait for its consumer to have
// declared them (a message to a queue that does not exist yet would be
// unroutable).
func WithTopology(ts ...Topology) PublisherOption {
	return func(p *Publisher) { p.topology = append(p.topology, ts...) }
}

// WithConnectionName names the connection in the broker's management UI
// and logs (default "vidstream publisher").
func WithConnectionName(name string) PublisherOption {
	return func(p *Publisher) { p.name = name }
}

// NewPublisher returns a Publisher for the broker at url
// ("amqp://user:password@host:port/vhost"). It connects lazily.
func NewPublisher(url string, p telemetry.Providers, opts ...PublisherOption) *Publisher {
	p = p.OrNoop()
	pub := &Publisher{
		url:  url,
		name: "vidstream publisher",
		log:  p.Logger.With(slog.String("component", "workqueue.publisher")),
		sent: counter(p, "messaging.client.sent.messages",
			"Messages the publisher tried to send; error.type is set on those the broker did not confirm."),
	}
	for _, opt := range opts {
		opt(pub)
	}
	return pub
}

// Publish sends msgs, persistent, and returns once the broker confirmed
// every one of them: each is then in its queue (on a quorum queue, on a
// majority of its replicas) and survives a broker restart. Otherwise it
// returns an error, a PublishErrors with one entry per message when it can
// tell which failed (a nack, an unroutable message, the channel closing
// under it), which the caller retries. Messages of one call keep their
// order in the queue.
func (p *Publisher) Publish(ctx context.Context, msgs ...Message) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	errs := make(PublishErrors, len(msgs))
	failed := false
	for start := 0; start < len(msgs); start += maxInFlight {
		end := min(start+maxInFlight, len(msgs))
		if err := p.publishChunk(ctx, msgs[start:end], errs[start:end]); err != nil {
			// Nothing after a failed chunk is sent: its failure (a
			// closed channel, mostly) would only repeat.
			for i := end; i < len(msgs); i++ {
				errs[i] = err
			}
			failed = true
			break
		}
	}
	for i, m := range msgs {
		attrs := []attribute.KeyValue{semconv.MessagingSystemRabbitMQ, semconv.MessagingDestinationName(m.Queue), semconv.MessagingOperationTypeSend}
		if errs[i] != nil {
			failed = true
			attrs = append(attrs, semconv.ErrorTypeOther)
		}
		p.sent.Add(ctx, 1, metric.WithAttributes(attrs...))
	}
	if failed {
		return fmt.Errorf("workqueue: publish %d messages: %w", len(msgs), errs)
	}
	return nil
}

// publishChunk publishes msgs and waits for their confirms, recording each
// message's failure in errs. It returns an error when the channel is
// unusable, and then drops it so the next call reconnects.
func (p *Publisher) publishChunk(ctx context.Context, msgs []Message, errs []error) error {
	ch, err := p.channel(ctx)
	if err != nil {
		for i := range errs {
			errs[i] = err
		}
		return err
	}
	confirms := make([]*amqp.DeferredConfirmation, len(msgs))
	var broken error
	for i, m := range msgs {
		// mandatory: a message no queue takes comes back (basic.return)
		// instead of vanishing, and is reported as ErrUnroutable.
		dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, "", m.Queue, true, false, m.publishing())
		if err != nil {
			broken = fmt.Errorf("workqueue: publish to %s: %w", m.Queue, err)
			for j := i; j < len(msgs); j++ {
				errs[j] = broken
			}
			break
		}
		confirms[i] = dc
	}
	for i, dc := range confirms {
		if dc == nil {
			continue
		}
		acked, err := dc.WaitContext(ctx)
		switch {
		case err != nil:
			// The confirm may still come, but nobody will be waiting
			// for it: the message's fate is unknown, so it counts as
			// failed, and the channel is dropped so that its late
			// confirms cannot be mistaken for later messages'.
			errs[i] = fmt.Errorf("workqueue: wait for confirm: %w", err)
			broken = errs[i]
		case !acked && ch.IsClosed():
			errs[i] = ErrChannelClosed
			broken = ErrChannelClosed
		case !acked:
			errs[i] = ErrNacked
		}
	}
	// The broker sends basic.return before the basic.ack of the same
	// message, and the library hands returns to the listener before it
	// settles the confirm: every return of this chunk is buffered by now.
	for drained := false; !drained; {
		select {
		case r, ok := <-p.returns:
			if !ok { // the channel closed; its returns are all read
				drained = true
				break
			}
			for i, m := range msgs {
				if m.ID == r.MessageId && errs[i] == nil {
					errs[i] = fmt.Errorf("%w %s (%d %s)", ErrUnroutable, r.RoutingKey, r.ReplyCode, r.ReplyText)
				}
			}
		default:
			drained = true
		}
	}
	if broken != nil {
		p.drop()
		return broken
	}
	return nil
}

// channel returns the open confirm-mode channel, connecting first if there
// is none (or it closed).
func (p *Publisher) channel(ctx context.Context) (*amqp.Channel, error) {
	if p.ch != nil && !p.ch.IsClosed() && !p.conn.IsClosed() {
		return p.ch, nil
	}
	p.drop()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	conn, err := dial(p.url, p.name)
	if err != nil {
		return nil, err
	}
	ch, err := conn.Channel()
	if err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("workqueue: open channel: %w", err)
	}
	for _, t := range p.topology {
		if err := Declare(ch, t); err != nil {
			_ = conn.Close()
			return nil, err
		}
	}
	if err := ch.Confirm(false); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("workqueue: confirm mode: %w", err)
	}
	p.returns = ch.NotifyReturn(make(chan amqp.Return, maxInFlight))
	p.conn, p.ch = conn, ch
	p.log.InfoContext(ctx, "connected to RabbitMQ", slog.String("url", redact(p.url)))
	return ch, nil
}

// drop closes the connection, if any; the next Publish opens a new one.
func (p *Publisher) drop() {
	if p.conn != nil {
		if err := p.conn.Close(); err != nil && !errors.Is(err, amqp.ErrClosed) {
			p.log.Debug("close RabbitMQ connection", slog.Any("error", err))
		}
	}
	p.conn, p.ch, p.returns = nil, nil, nil
}

// Close closes the connection; later Publish calls return ErrClosed.
func (p *Publisher) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	p.drop()
	return nil
}
