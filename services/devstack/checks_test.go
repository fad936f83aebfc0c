package main

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/vidstream/vidstream/services/internal/jaegerquery"
)

// The end-to-end test's trace checks, on real traces recorded from `make
// run` (see services/internal/jaegerquery/testdata): they accept a good
// trace and name what is wrong with a broken one, so a passing end-to-end
// run means something.

func loadTrace(t *testing.T, name string) *jaegerquery.Trace {
	t.Helper()
	f, err := os.Open("../internal/jaegerquery/testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ts, err := jaegerquery.ParseTraces(f)
	if err != nil || len(ts) != 1 {
		t.Fatalf("%s: %d traces, %v", name, len(ts), err)
	}
	return ts[0]
}

func TestCheckWatchTrace(t *testing.T) {
	if err := checkWatchTrace(loadTrace(t, "watch-to-the-end.json")); err != nil {
		t.Fatalf("a good trace was rejected: %v", err)
	}
	for name, tc := range map[string]struct {
		breakIt func(tr *jaegerquery.Trace)
		want    string
	}{
		"consumer span missing": {
			breakIt: func(tr *jaegerquery.Trace) { drop(tr, "process vidstream.watch.v1") },
			want:    `no video consumer span "process vidstream.watch.v1"`,
		},
		"consumer in a trace of its own": {
			breakIt: func(tr *jaegerquery.Trace) {
				for _, s := range tr.Spans {
					if s.Name == "process vidstream.watch.v1" {
						s.ParentSpanID = ""
					}
				}
			},
			want: "want one connected trace",
		},
		"no gRPC": {
			breakIt: func(tr *jaegerquery.Trace) {
				for _, s := range tr.Spans {
					delete(s.Attributes, "rpc.system.name")
					delete(s.Attributes, "rpc.system")
				}
			},
			want: "no gRPC call from watch-history to user",
		},
	} {
		t.Run(name, func(t *testing.T) {
			tr := loadTrace(t, "watch-to-the-end.json")
			tc.breakIt(tr)
			tr = relink(tr)
			err := checkWatchTrace(tr)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("checkWatchTrace = %v, want an error with %q", err, tc.want)
			}
		})
	}
}

func TestCheckPurgeTrace(t *testing.T) {
	tr := loadTrace(t, "delete-an-account.json")
	if err := checkPurgeTrace(tr); err != nil {
		t.Fatalf("a good trace was rejected: %v", err)
	}
	drop(tr, "process vidstream.users.v1")
	if err := checkPurgeTrace(relink(tr)); err == nil || !strings.Contains(err.Error(), "watch-history consumer") {
		t.Fatalf("checkPurgeTrace without the consumer = %v", err)
	}
	if err := checkWatchTrace(loadTrace(t, "delete-an-account.json")); err == nil {
		t.Fatal("the purge trace passed as a PUT /v1/history trace")
	}
}

// drop removes the spans named name.
func drop(tr *jaegerquery.Trace, name string) {
	var kept []*jaegerquery.Span
	for _, s := range tr.Spans {
		if s.Name != name {
			kept = append(kept, s)
		}
	}
	tr.Spans = kept
}

// relink rebuilds the tree after spans were changed.
func relink(tr *jaegerquery.Trace) *jaegerquery.Trace { return jaegerquery.NewTrace(tr.ID, tr.Spans) }

// checkWatchTrace holds the one-trace promise
// (docs/architecture.md#one-trace): the PUT that completes a
// video is ONE trace with the HTTP server span of watch-history, gRPC client
// and server spans to user and video, database spans, the outbox relay's
// producer span and video's consumer span, the consumer a descendant of the
// HTTP server span (through the producer, which it also links to).
func checkWatchTrace(tr *jaegerquery.Trace) error {
	var errs []error
	if len(tr.Roots) != 1 {
		errs = append(errs, fmt.Errorf("%d roots (%s), want one connected trace", len(tr.Roots), names(tr.Roots)))
	}
	for _, svc := range []string{"user", "video", "watch-history"} {
		if !slices.Contains(tr.Services(), svc) {
			errs = append(errs, fmt.Errorf("no span from %s (services: %v)", svc, tr.Services()))
		}
	}
	for _, k := range []jaegerquery.Kind{jaegerquery.KindServer, jaegerquery.KindClient, jaegerquery.KindProducer, jaegerquery.KindConsumer} {
		if len(tr.Find(func(s *jaegerquery.Span) bool { return s.Kind == k })) == 0 {
			errs = append(errs, fmt.Errorf("no %s span", k))
		}
	}
	server := one(tr, &errs, "watch-history", jaegerquery.KindServer, "PUT /v1/history/{video_id}")
	producer := one(tr, &errs, "watch-history", jaegerquery.KindProducer, "send vidstream.watch.v1")
	consumer := one(tr, &errs, "video", jaegerquery.KindConsumer, "process vidstream.watch.v1")
	if server != nil && consumer != nil && !consumer.IsDescendantOf(server) {
		errs = append(errs, errors.New("video's consumer span is not a descendant of watch-history's HTTP server span"))
	}
	if server != nil && producer != nil && !producer.IsDescendantOf(server) {
		errs = append(errs, errors.New("the producer span is not a descendant of the HTTP server span"))
	}
	if producer != nil && consumer != nil {
		if !consumer.IsDescendantOf(producer) {
			errs = append(errs, errors.New("the consumer span is not a descendant of the producer span"))
		}
		if !slices.ContainsFunc(consumer.Links, func(l jaegerquery.Link) bool { return l.SpanID == producer.SpanID }) {
			errs = append(errs, errors.New("the consumer span does not link to the producer span"))
		}
	}
	for _, target := range []string{"user", "video"} {
		grpcServer := tr.Find(func(s *jaegerquery.Span) bool {
			return s.Service == target && s.Kind == jaegerquery.KindServer && s.Transport() == jaegerquery.TransportGRPC &&
				s.Parent != nil && s.Parent.Service == "watch-history" && s.Parent.Kind == jaegerquery.KindClient
		})
		if len(grpcServer) == 0 {
			errs = append(errs, fmt.Errorf("no gRPC call from watch-history to %s", target))
		}
	}
	if len(tr.Find(func(s *jaegerquery.Span) bool { return s.Transport() == jaegerquery.TransportDB })) == 0 {
		errs = append(errs, errors.New("no database span"))
	}
	return errors.Join(errs...)
}

// checkPurgeTrace: deleting an account reaches watch-history's UserDeleted
// consumer within the request's trace.
func checkPurgeTrace(tr *jaegerquery.Trace) error {
	var errs []error
	server := one(tr, &errs, "user", jaegerquery.KindServer, "DELETE /v1/users/me")
	one(tr, &errs, "user", jaegerquery.KindProducer, "send vidstream.users.v1")
	consumer := one(tr, &errs, "watch-history", jaegerquery.KindConsumer, "process vidstream.users.v1")
	if server != nil && consumer != nil && !consumer.IsDescendantOf(server) {
		errs = append(errs, errors.New("watch-history's consumer span is not a descendant of user's HTTP server span"))
	}
	return errors.Join(errs...)
}

// one finds the span of service and kind named name, noting in errs if
// there is none.
func one(tr *jaegerquery.Trace, errs *[]error, service string, kind jaegerquery.Kind, name string) *jaegerquery.Span {
	found := tr.Find(func(s *jaegerquery.Span) bool { return s.Service == service && s.Kind == kind && s.Name == name })
	if len(found) == 0 {
		*errs = append(*errs, fmt.Errorf("no %s %s span %q", service, kind, name))
		return nil
	}
	return found[0]
}

func names(spans []*jaegerquery.Span) string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Service+": "+s.Name)
	}
	return strings.Join(out, ", ")
}

// checkTranscodeTrace: with the job queue on, publishing a video is one
// trace through the queue and back: video's HTTP server span, the relay's
// AMQP producer span for the job, the transcoder's AMQP consumer span (its
// child, linked to it), the transcoder's CompleteTranscode call and
// video's server span for it, and the Kafka producer span of the
// VideoPublished that call enqueued.
func checkTranscodeTrace(tr *jaegerquery.Trace) error {
	var errs []error
	if len(tr.Roots) != 1 {
		errs = append(errs, fmt.Errorf("%d roots (%s), want one connected trace", len(tr.Roots), names(tr.Roots)))
	}
	// The demo publishes several videos in this trace: each hop is checked
	// against its own job's spans, not the first of each name.
	posts := all(tr, &errs, "video", jaegerquery.KindServer, "POST /v1/videos")
	sends := all(tr, &errs, "video", jaegerquery.KindProducer, "send vidstream.transcode")
	processes := all(tr, &errs, "transcoder", jaegerquery.KindConsumer, "process vidstream.transcode")
	calls := all(tr, &errs, "transcoder", jaegerquery.KindClient, "vidstream.video.v1.VideoService/CompleteTranscode")
	served := all(tr, &errs, "video", jaegerquery.KindServer, "vidstream.video.v1.VideoService/CompleteTranscode")
	published := all(tr, &errs, "video", jaegerquery.KindProducer, "send vidstream.videos.v1")
	for _, s := range slices.Concat(sends, processes) {
		if s.Transport() != "rabbitmq" {
			errs = append(errs, fmt.Errorf("%s span %q: messaging.system %q, want rabbitmq", s.Kind, s.Name, s.Attributes["messaging.system"]))
		}
	}
	under := func(child *jaegerquery.Span, parents []*jaegerquery.Span) *jaegerquery.Span {
		for _, p := range parents {
			if child.IsDescendantOf(p) {
				return p
			}
		}
		return nil
	}
	for _, send := range sends {
		if under(send, posts) == nil {
			errs = append(errs, errors.New("a job's producer span is not a descendant of POST /v1/videos"))
		}
	}
	for _, process := range processes {
		send := under(process, sends)
		if send == nil {
			errs = append(errs, errors.New("a transcoder consumer span is not a descendant of a job's producer span"))
			continue
		}
		if !slices.ContainsFunc(process.Links, func(l jaegerquery.Link) bool { return l.SpanID == send.SpanID }) {
			errs = append(errs, errors.New("a transcoder consumer span does not link to its job's producer span"))
		}
	}
	for _, call := range calls {
		if under(call, processes) == nil {
			errs = append(errs, errors.New("CompleteTranscode is called outside a consumer span"))
		}
	}
	for _, s := range served {
		if under(s, calls) == nil {
			errs = append(errs, errors.New("a CompleteTranscode server span is not a transcoder call's child"))
		}
	}
	if len(published) > 0 && !slices.ContainsFunc(published, func(p *jaegerquery.Span) bool { return under(p, served) != nil }) {
		errs = append(errs, errors.New("no VideoPublished producer span under CompleteTranscode"))
	}
	return errors.Join(errs...)
}

// all is every span of service, kind and name; none is an error.
func all(tr *jaegerquery.Trace, errs *[]error, service string, kind jaegerquery.Kind, name string) []*jaegerquery.Span {
	found := tr.Find(func(s *jaegerquery.Span) bool { return s.Service == service && s.Kind == kind && s.Name == name })
	if len(found) == 0 {
		*errs = append(*errs, fmt.Errorf("no %s %s span %q", service, kind, name))
	}
	return found
}
