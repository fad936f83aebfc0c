package systemtest

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/vidstream/vidstream/services/internal/kafkabus"
	"github.com/vidstream/vidstream/services/internal/kafkabus/kafkatest"
)

// Span names of the one-trace design (docs/architecture.md#one-trace).
const (
	putSpan          = "PUT /v1/history/{video_id}"
	authenticateSpan = "vidstream.user.v1.UserService/AuthenticateToken"
	getVideoSpan     = "vidstream.video.v1.VideoService/GetVideo"
	sendSpan         = "send " + watchTopic
	processSpanName  = "process " + watchTopic
)

// TestOneTracePerRequest follows one PUT /v1/history/{id} through every
// hop, each service recording its own spans as its own exporter would: one
// trace id covers watch history's HTTP server span, its gRPC calls to user
// and video and their server spans there, the database work of all three,
// the relay's PRODUCER span for each event, and video's CONSUMER span for
// each, which is the producer span's child and links to it (docs/architecture.md#one-trace).
func TestOneTracePerRequest(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		s := start(t, b, kafkatest.Broker(t), options{})
		owner, ann := s.newUser(t), s.newUser(t)
		v := s.newVideo(t, owner, "Night Train", 100)

		// 95 of 100: a WatchProgressed and, the first time past 90%, a
		// VideoWatched, both caused by this one request.
		s.put(t, ann, v.ID, 95)
		records := unique(waitRecords(t, s.brokers, watchTopic, 2, ann.id))
		if len(records) != 2 || len(ofType(records, typeWatchProgressed)) != 1 || len(ofType(records, typeVideoWatched)) != 1 {
			t.Fatalf("records for one report: %v, want a WatchProgressed and a VideoWatched", types(records))
		}
		s.waitViewCount(t, v.ID, 1)

		// The server span ends just after the response is written.
		var root sdktrace.ReadOnlySpan
		eventually(t, func() error {
			puts := find(s.historySpans, func(sp sdktrace.ReadOnlySpan) bool {
				return sp.Name() == putSpan && sp.SpanKind() == trace.SpanKindServer
			})
			if len(puts) != 1 {
				return fmt.Errorf("%d %q server spans in watch history, want 1", len(puts), putSpan)
			}
			root = puts[0]
			return nil
		})
		if root.Parent().IsValid() {
			t.Fatalf("the request's server span has parent %v; the test sent no trace context", root.Parent())
		}
		// The consumer spans end last; once they have, the trace is
		// complete in every recorder.
		consumers := map[int64]sdktrace.ReadOnlySpan{}
		for _, m := range records {
			consumers[m.Offset] = processSpan(t, s, m)
		}
		tr := newTraceView(root.SpanContext().TraceID(), map[string]*tracetest.SpanRecorder{
			"user": s.userSpans, "video": s.videoSpans, "watch-history": s.historySpans,
		})

		// Both events: send span → process span, in the request's trace.
		for _, m := range records {
			producer := tr.producerOf(t, m)
			consumer := consumers[m.Offset]
			if consumer.SpanContext().TraceID() != tr.id {
				t.Fatalf("%s: process span in trace %s, want the request's %s", eventType(m), consumer.SpanContext().TraceID(), tr.id)
			}
			if consumer.SpanKind() != trace.SpanKindConsumer {
				t.Errorf("%s: process span kind %v, want consumer", eventType(m), consumer.SpanKind())
			}
			if consumer.Parent().SpanID() != producer.SpanContext().SpanID() {
				t.Errorf("%s: process span's parent is %s, want the send span %s", eventType(m),
					tr.name(consumer.Parent().SpanID()), producer.SpanContext().SpanID())
			}
			if !slices.ContainsFunc(consumer.Links(), func(l sdktrace.Link) bool {
				return l.SpanContext.SpanID() == producer.SpanContext().SpanID() && l.SpanContext.TraceID() == tr.id
			}) {
				t.Errorf("%s: process span does not link to the send span: %v", eventType(m), consumer.Links())
			}
			assertAttrs(t, eventType(m)+" process span", consumer.Attributes(), map[attribute.Key]string{
				"messaging.system":                   "kafka",
				"messaging.destination.name":         watchTopic,
				"messaging.operation.name":           "process",
				"messaging.operation.type":           "process",
				"messaging.kafka.message.key":        ann.id,
				"messaging.kafka.offset":             strconv.FormatInt(m.Offset, 10),
				"messaging.destination.partition.id": strconv.Itoa(m.Partition),
				"messaging.consumer.group.name":      s.viewCounterGroup,
			})
			// consumer → producer → ... → the HTTP server span.
			chain := tr.chain(t, consumer)
			if !slices.Contains(chain, "watch-history: "+sendSpan) {
				t.Errorf("%s: chain %v does not pass the send span", eventType(m), chain)
			}
			t.Logf("%s: %s", eventType(m), strings.Join(chain, " → "))
		}

		// The gRPC calls made while serving the request, at both ends.
		for _, call := range []struct{ name, server string }{
			{authenticateSpan, "user"},
			{getVideoSpan, "video"},
		} {
			client := tr.one(t, "watch-history", call.name, trace.SpanKindClient)
			tr.chain(t, client) // ends at the server span
			server := tr.one(t, call.server, call.name, trace.SpanKindServer)
			if server.Parent().SpanID() != client.SpanContext().SpanID() {
				t.Errorf("%s server span at %s: parent %s, want watch history's client span", call.name, call.server,
					tr.name(server.Parent().SpanID()))
			}
		}

		// Database spans of all three services belong to it: watch
		// history's upsert and outbox insert, user's token lookup, video's
		// read for GetVideo and its view_count update.
		for _, svc := range []string{"watch-history", "user", "video"} {
			db := tr.matching(svc, func(sp sdktrace.ReadOnlySpan) bool {
				return attr(sp.Attributes(), "db.system.name").String() != ""
			})
			if len(db) == 0 {
				t.Errorf("no database span of %s in the request's trace", svc)
			}
			for _, sp := range db {
				tr.chain(t, sp)
			}
		}
		inConsumer := 0
		for _, c := range consumers {
			inConsumer += len(tr.descendants(c))
		}
		if inConsumer == 0 {
			t.Errorf("video's consumer did no traced database work")
		}
	})
}

// traceView is one trace as the recorders of all services hold it.
type traceView struct {
	id      trace.TraceID
	service map[trace.SpanID]string
	spans   map[trace.SpanID]sdktrace.ReadOnlySpan
}

func newTraceView(id trace.TraceID, recorders map[string]*tracetest.SpanRecorder) *traceView {
	tv := &traceView{id: id, service: map[trace.SpanID]string{}, spans: map[trace.SpanID]sdktrace.ReadOnlySpan{}}
	tv.refresh(recorders)
	return tv
}

func (tv *traceView) refresh(recorders map[string]*tracetest.SpanRecorder) {
	for svc, rec := range recorders {
		for _, sp := range rec.Ended() {
			if sp.SpanContext().TraceID() == tv.id {
				tv.spans[sp.SpanContext().SpanID()] = sp
				tv.service[sp.SpanContext().SpanID()] = svc
			}
		}
	}
}

func (tv *traceView) name(id trace.SpanID) string {
	if sp, ok := tv.spans[id]; ok {
		return fmt.Sprintf("%s %q", tv.service[id], sp.Name())
	}
	return id.String() + " (not in the trace)"
}

// matching returns svc's spans in the trace for which keep is true.
func (tv *traceView) matching(svc string, keep func(sdktrace.ReadOnlySpan) bool) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for id, sp := range tv.spans {
		if tv.service[id] == svc && keep(sp) {
			out = append(out, sp)
		}
	}
	return out
}

// one returns svc's only span of that name and kind in the trace.
func (tv *traceView) one(t *testing.T, svc, name string, kind trace.SpanKind) sdktrace.ReadOnlySpan {
	t.Helper()
	got := tv.matching(svc, func(sp sdktrace.ReadOnlySpan) bool { return sp.Name() == name && sp.SpanKind() == kind })
	if len(got) != 1 {
		t.Fatalf("%d %v spans %q of %s in the request's trace, want 1", len(got), kind, name, svc)
	}
	return got[0]
}

// chain walks from sp up its parents, across services, and fails t unless
// it ends at the trace's root, watch history's HTTP server span. It returns
// the names on the way, sp's first.
func (tv *traceView) chain(t *testing.T, sp sdktrace.ReadOnlySpan) []string {
	t.Helper()
	return tv.chainTo(t, sp, "watch-history", putSpan)
}

// chainTo is chain for a trace whose root is rootSvc's span rootName.
func (tv *traceView) chainTo(t *testing.T, sp sdktrace.ReadOnlySpan, rootSvc, rootName string) []string {
	t.Helper()
	var names []string
	for {
		id := sp.SpanContext().SpanID()
		names = append(names, tv.service[id]+": "+sp.Name())
		parent := sp.Parent()
		if !parent.IsValid() {
			if sp.Name() != rootName || tv.service[id] != rootSvc {
				t.Fatalf("chain %v ends at a root other than %s's %q", names, rootSvc, rootName)
			}
			return names
		}
		next, ok := tv.spans[parent.SpanID()]
		if !ok {
			t.Fatalf("chain %v: parent %s is not in the request's trace", names, parent.SpanID())
		}
		if len(names) > 64 {
			t.Fatalf("chain %v does not end", names)
		}
		sp = next
	}
}

// descendants returns the spans under sp.
func (tv *traceView) descendants(sp sdktrace.ReadOnlySpan) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, c := range tv.spans {
		if tv.under(c, sp.SpanContext().SpanID()) {
			out = append(out, c)
		}
	}
	return out
}

// under reports whether span id is among sp's ancestors.
func (tv *traceView) under(sp sdktrace.ReadOnlySpan, id trace.SpanID) bool {
	for p := sp.Parent(); p.IsValid(); {
		if p.SpanID() == id {
			return true
		}
		next, ok := tv.spans[p.SpanID()]
		if !ok {
			return false
		}
		p = next.Parent()
	}
	return false
}

// producerOf returns the relay's send span of record m: the span whose
// context m's traceparent carries. It checks the span's messaging
// attributes and that it belongs to the request's trace.
func (tv *traceView) producerOf(t *testing.T, m kafka.Message) sdktrace.ReadOnlySpan {
	t.Helper()
	sc := trace.SpanContextFromContext(propagation.TraceContext{}.Extract(t.Context(),
		kafkabus.Carrier(&m.Headers)))
	if !sc.IsValid() {
		t.Fatalf("%s carries no valid traceparent: %q", eventType(m), kafkatest.Header(m, "traceparent"))
	}
	if sc.TraceID() != tv.id {
		t.Fatalf("%s carries trace %s, want the request's %s", eventType(m), sc.TraceID(), tv.id)
	}
	sp, ok := tv.spans[sc.SpanID()]
	if !ok || tv.service[sc.SpanID()] != "watch-history" {
		t.Fatalf("%s's traceparent names %s, want watch history's send span", eventType(m), tv.name(sc.SpanID()))
	}
	if sp.Name() != sendSpan || sp.SpanKind() != trace.SpanKindProducer {
		t.Fatalf("%s's traceparent names %v span %q, want producer %q", eventType(m), sp.SpanKind(), sp.Name(), sendSpan)
	}
	assertAttrs(t, eventType(m)+" send span", sp.Attributes(), map[attribute.Key]string{
		"messaging.system":            "kafka",
		"messaging.destination.name":  watchTopic,
		"messaging.operation.name":    "send",
		"messaging.operation.type":    "send",
		"messaging.kafka.message.key": string(m.Key),
		"messaging.message.id":        kafkatest.Header(m, kafkabus.HeaderID),
	})
	chain := tv.chain(t, sp)
	if len(chain) < 2 {
		t.Fatalf("%s: send span is the root", eventType(m))
	}
	return sp
}

// processSpan waits for video's CONSUMER span of record m: the view
// counter's "process <topic>" span for m's partition and offset.
func processSpan(t *testing.T, s *system, m kafka.Message) sdktrace.ReadOnlySpan {
	t.Helper()
	var got sdktrace.ReadOnlySpan
	eventually(t, func() error {
		spans := find(s.videoSpans, func(sp sdktrace.ReadOnlySpan) bool {
			a := sp.Attributes()
			return sp.Name() == processSpanName &&
				attr(a, "messaging.destination.partition.id").String() == strconv.Itoa(m.Partition) &&
				attr(a, "messaging.kafka.offset").String() == strconv.FormatInt(m.Offset, 10)
		})
		if len(spans) == 0 {
			return fmt.Errorf("no %q span for %s[%d]@%d in video", processSpanName, m.Topic, m.Partition, m.Offset)
		}
		// A redelivery across a rebalance may process a record twice; the
		// first time is the one that did the work.
		got = spans[0]
		return nil
	})
	return got
}

// find returns the ended spans of rec for which keep is true, in the order
// they ended.
func find(rec *tracetest.SpanRecorder, keep func(sdktrace.ReadOnlySpan) bool) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, sp := range rec.Ended() {
		if keep(sp) {
			out = append(out, sp)
		}
	}
	return out
}

// assertAttrs checks that attrs has each key with the given value (as
// Value.Emit renders it).
func assertAttrs(t *testing.T, what string, attrs []attribute.KeyValue, want map[attribute.Key]string) {
	t.Helper()
	for k, v := range want {
		if got := attr(attrs, k); got.Type() == attribute.EMPTY || got.String() != v {
			t.Errorf("%s: %s = %q, want %q", what, k, got.String(), v)
		}
	}
}

func eventType(m kafka.Message) string {
	return strings.TrimPrefix(kafkatest.Header(m, kafkabus.HeaderType), watchTopic+".")
}

func types(msgs []kafka.Message) []string {
	var out []string
	for _, m := range msgs {
		out = append(out, eventType(m))
	}
	return out
}
