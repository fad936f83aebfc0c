package workqueue

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"go.opentelemetry.io/otel/propagation"

	"github.com/vidstream/vidstream/services/internal/permanent"
)

// CloudEvents AMQP binding (CloudEvents 1.0, AMQP protocol binding, binary
// mode): the envelope's attributes are application properties prefixed
// "cloudEvents:"; the body is the payload alone.
const (
	HeaderSpecVersion = "cloudEvents:specversion"
	HeaderID          = "cloudEvents:id"
	HeaderType        = "cloudEvents:type"
	HeaderSource      = "cloudEvents:source"
	HeaderTime        = "cloudEvents:time"
)

// Headers of vidstream's own. The attempt count travels with the message
// (not in the broker's x-delivery-count) because a retry is a new message,
// published to the retry queue: only the message can remember how many
// attempts came before it.
const (
	// HeaderAttempt is the attempt a delivery is: 1 the first time, raised
	// by one on every retry.
	HeaderAttempt = "x-vidstream-attempt"
	// HeaderKey is the job's key (the aggregate's id, e.g. a video id), for
	// logs and for tools reading the dead-letter queue.
	HeaderKey = "x-vidstream-key"
	// Set on a dead-lettered job: why, whether retrying could have helped,
	// when, and which queue it failed on (to replay it there).
	HeaderError         = "x-vidstream-error"
	HeaderPermanent     = "x-vidstream-permanent"
	HeaderFailedAt      = "x-vidstream-failed-at"
	HeaderOriginalQueue = "x-vidstream-original-queue"

	// maxErrorLen bounds HeaderError: an error that embeds a whole payload
	// must not make the dead-lettered message too large to publish.
	maxErrorLen = 2048
)

// Values the producer side puts in the envelope.
const (
	SpecVersion         = "1.0"
	ContentTypeProtobuf = "application/protobuf"
)

// Message is one job: what a producer sends and what a Handler receives.
type Message struct {
	// Queue is the destination (sending) or the queue it came from
	// (receiving). Jobs go through the default exchange, so it is also the
	// routing key.
	Queue string
	// ID is the CloudEvents id and the AMQP message-id: the job's identity
	// across retries and redeliveries, so a worker can deduplicate on it.
	ID string
	// Type is the CloudEvents type, e.g.
	// "vidstream.transcode.TranscodeRequested"; a handler switches on it.
	Type string
	// Source is the CloudEvents source, e.g. "/services/video".
	Source string
	// Time is when the job was created (the CloudEvents time).
	Time time.Time
	// Key is the job's key, the id of the aggregate it is about.
	Key string
	// Body is the payload: a services/api/jobs/v1 message in protobuf.
	Body []byte
	// Attempt is the attempt this is, from 1; zero when sending means 1.
	Attempt int
	// Headers are the other string headers: the W3C trace context and, on
	// a dead-lettered job, the x-vidstream-* headers saying why.
	Headers map[string]string
	// Redelivered is set on a delivery the broker delivered before without
	// an acknowledgement (a worker died or lost its connection mid-job):
	// the job may have been done, in part or whole, already.
	Redelivered bool
}

func (m Message) attempt() int { return max(m.Attempt, 1) }

// Header returns the value of header key; empty if absent.
func (m Message) Header(key string) string { return m.Headers[key] }

// publishing converts m to what the broker gets: persistent, and the
// envelope both as CloudEvents application properties and, where AMQP has
// one, as the standard property (message-id, timestamp, content-type).
func (m Message) publishing() amqp.Publishing {
	headers := make(amqp.Table, len(m.Headers)+8)
	for k, v := range m.Headers {
		headers[k] = v
	}
	headers[HeaderSpecVersion] = SpecVersion
	headers[HeaderID] = m.ID
	headers[HeaderType] = m.Type
	headers[HeaderSource] = m.Source
	if !m.Time.IsZero() {
		headers[HeaderTime] = m.Time.UTC().Format(time.RFC3339Nano)
	}
	if m.Key != "" {
		headers[HeaderKey] = m.Key
	}
	headers[HeaderAttempt] = int32(min(m.attempt(), 1<<30))
	return amqp.Publishing{
		Headers:      headers,
		ContentType:  ContentTypeProtobuf,
		DeliveryMode: amqp.Persistent,
		MessageId:    m.ID,
		Timestamp:    m.Time.UTC(),
		Type:         m.Type,
		Body:         m.Body,
	}
}

// fromDelivery reads a delivery back into a Message. Headers that are not
// strings (the broker's x-death, say) are left out of Headers; the
// envelope's attributes have fields of their own.
func fromDelivery(queue string, d amqp.Delivery) Message {
	m := Message{
		Queue:       queue,
		ID:          d.MessageId,
		Body:        d.Body,
		Attempt:     1,
		Headers:     make(map[string]string),
		Redelivered: d.Redelivered,
	}
	for k, v := range d.Headers {
		switch k {
		case HeaderID:
			if s, ok := v.(string); ok && s != "" {
				m.ID = s
			}
		case HeaderType:
			m.Type, _ = v.(string)
		case HeaderSource:
			m.Source, _ = v.(string)
		case HeaderTime:
			if s, ok := v.(string); ok {
				m.Time, _ = time.Parse(time.RFC3339Nano, s)
			}
		case HeaderKey:
			m.Key, _ = v.(string)
		case HeaderAttempt:
			if n, ok := asInt(v); ok && n > 0 {
				m.Attempt = n
			}
		case HeaderSpecVersion:
		default:
			if s, ok := v.(string); ok {
				m.Headers[k] = s
			}
		}
	}
	if m.Time.IsZero() && !d.Timestamp.IsZero() {
		m.Time = d.Timestamp
	}
	return m
}

// asInt reads an integer header, whatever integer type the table decoded
// it as (another client may have written it as a string).
func asInt(v any) (int, bool) {
	switch n := v.(type) {
	case int8:
		return int(n), true
	case int16:
		return int(n), true
	case int32:
		return int(n), true
	case int64:
		return int(n), true
	case int:
		return n, true
	case uint8:
		return int(n), true
	case uint16:
		return int(n), true
	case uint32:
		return int(n), true
	case string:
		i, err := strconv.Atoi(n)
		return i, err == nil
	default:
		return 0, false
	}
}

// republish is the copy of a delivery that goes to the retry or dead-letter
// queue: the same id, body, envelope and traceparent (so the next attempt
// continues the job's trace) with the broker's bookkeeping headers (x-death,
// x-delivery-count, ...) dropped: they describe the old copy's path.
func republish(d amqp.Delivery, attempt int, extra map[string]string) amqp.Publishing {
	headers := make(amqp.Table, len(d.Headers)+len(extra)+1)
	for k, v := range d.Headers {
		if strings.HasPrefix(k, "x-") && !strings.HasPrefix(k, "x-vidstream-") {
			continue
		}
		headers[k] = v
	}
	for k, v := range extra {
		headers[k] = v
	}
	headers[HeaderAttempt] = int32(min(attempt, 1<<30))
	return amqp.Publishing{
		Headers:         headers,
		ContentType:     d.ContentType,
		ContentEncoding: d.ContentEncoding,
		DeliveryMode:    amqp.Persistent,
		MessageId:       d.MessageId,
		Timestamp:       d.Timestamp,
		Type:            d.Type,
		Body:            d.Body,
	}
}

// headerCarrier adapts a message's string headers to an OpenTelemetry
// TextMapCarrier.
type headerCarrier map[string]string

func (c headerCarrier) Get(key string) string { return c[key] }
func (c headerCarrier) Set(key, value string) { c[key] = value }
func (c headerCarrier) Keys() []string        { return slices.Collect(maps.Keys(c)) }

// Carrier returns a TextMapCarrier over m's Headers (created if nil), for
// injecting the send span's context into a message being built.
func Carrier(m *Message) propagation.TextMapCarrier {
	if m.Headers == nil {
		m.Headers = make(map[string]string)
	}
	return headerCarrier(m.Headers)
}

// Permanent marks err as one that retrying cannot fix (an undecodable
// body, a job for a video that does not exist): the consumer dead-letters
// the job at once instead of retrying it. Permanent(nil) is nil.
func Permanent(err error) error { return permanent.Mark(err) }

// IsPermanent reports whether err, or an error it wraps, was marked with
// Permanent.
func IsPermanent(err error) bool { return permanent.Is(err) }

// validate checks the envelope a consumer needs before a handler can make
// sense of a delivery; a message without it is dead-lettered at once.
func (m Message) validate() error {
	switch {
	case m.ID == "":
		return Permanent(errors.New("message has no cloudEvents:id (or message-id)"))
	case m.Type == "":
		return Permanent(fmt.Errorf("message %s has no cloudEvents:type", m.ID))
	}
	return nil
}
