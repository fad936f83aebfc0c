package systemtest

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/vidstream/vidstream/services/internal/kafkabus/kafkatest"
	"github.com/vidstream/vidstream/services/internal/service/servicetest"
	"github.com/vidstream/vidstream/services/internal/workqueue/workqueuetest"
	transcoderapp "github.com/vidstream/vidstream/services/transcoder/app"
)

// The job queue's spans (docs/architecture.md#transcoding); the job's are
// "send <queue>" and "process <queue>", with the test's own queue.
const (
	typeVideoPublished  = videosTopic + ".VideoPublished"
	createVideoSpan     = "POST /v1/videos"
	completeSpan        = "vidstream.video.v1.VideoService/CompleteTranscode"
	sendVideosEventSpan = "send " + videosTopic
)

// transcodeRetryDelay is the retry delay of the tests' transcoders.
const transcodeRetryDelay = 50 * time.Millisecond

// transcoding is how a scenario runs the transcoder.
type transcoding struct {
	failureRate float64
	maxAttempts int
}

// startTranscoder runs the transcoder against s's video service and job
// queue, with its own span recorder.
func (s *system) startTranscoder(t *testing.T, tc transcoding) {
	t.Helper()
	p, spans := providers(t, 0)
	s.transcoderSpans = spans
	base := servicetest.Base(t, "", s.brokers)
	base.RabbitMQURL = s.rabbitURL
	a, err := transcoderapp.New(t.Context(), transcoderapp.Config{
		Base:          base,
		VideoGRPCAddr: s.videoGRPC,
		Queue:         s.transcodeQueue,
		Duration:      40 * time.Millisecond,
		FailureRate:   tc.failureRate,
		Seed:          1,
		Prefetch:      2,
		MaxAttempts:   max(tc.maxAttempts, 1),
		RetryDelay:    transcodeRetryDelay,
	}, p)
	if err != nil {
		t.Fatalf("start transcoder: %v", err)
	}
	servicetest.Run(t, "transcoder", a.Run)
}

// videoStatus is a video's status through the public API.
func (s *system) videoStatus(t *testing.T, id string) string {
	t.Helper()
	r := s.request(t, http.MethodGet, s.videoURL+"/v1/videos/"+id, "", nil, http.StatusOK)
	var v struct {
		Status string `json:"status"`
	}
	r.decode(t, &v)
	return v.Status
}

// waitStatus polls until the video's status is want; another final
// status fails at once.
func (s *system) waitStatus(t *testing.T, id, want string) {
	t.Helper()
	eventually(t, func() error {
		got := s.videoStatus(t, id)
		if got != want && got != "processing" {
			t.Fatalf("video %s ended %q, want %q", id, got, want)
		}
		if got != want {
			return fmt.Errorf("video %s is %q, want %q", id, got, want)
		}
		return nil
	})
}

// TestTranscodeOneTrace: with the job queue on, POST /v1/videos answers
// processing, the transcoder works the job off and video makes the video
// ready; one trace follows it all, each service recording its own spans:
// video's HTTP server span, the relay's send span for the job, the
// transcoder's process span (the send span's child, linked to it), its
// CompleteTranscode call and video's server span for it, and the send span
// of the VideoPublished that call enqueued.
func TestTranscodeOneTrace(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		s := start(t, b, kafkatest.Broker(t), options{rabbitURL: workqueuetest.URL(t)})
		s.startTranscoder(t, transcoding{})
		owner := s.newUser(t)

		var created struct {
			ID     string `json:"id"`
			Status string `json:"status"`
		}
		s.request(t, http.MethodPost, s.videoURL+"/v1/videos", owner.token, map[string]any{
			"title": "Rushes", "description": "", "kind": "movie", "duration_seconds": 60,
		}, http.StatusCreated).decode(t, &created)
		if created.Status != "processing" {
			t.Fatalf("new video is %q, want processing", created.Status)
		}
		s.waitStatus(t, created.ID, "ready")
		// VideoPublished only now, once: the relay may publish a copy,
		// never a second event.
		published := unique(ofType(waitRecords(t, s.brokers, videosTopic, 1, created.ID), typeVideoPublished))
		if len(published) != 1 {
			t.Fatalf("%d VideoPublished for one transcoded video, want 1", len(published))
		}

		recorders := map[string]*tracetest.SpanRecorder{"user": s.userSpans, "video": s.videoSpans, "transcoder": s.transcoderSpans}
		var root sdktrace.ReadOnlySpan
		eventually(t, func() error {
			posts := find(s.videoSpans, func(sp sdktrace.ReadOnlySpan) bool {
				return sp.Name() == createVideoSpan && sp.SpanKind() == trace.SpanKindServer
			})
			if len(posts) != 1 {
				return fmt.Errorf("%d %q server spans in video, want 1", len(posts), createVideoSpan)
			}
			root = posts[0]
			return nil
		})
		var tr *traceView
		// The VideoPublished send span ends last; wait for it.
		eventually(t, func() error {
			tr = newTraceView(root.SpanContext().TraceID(), recorders)
			if n := len(tr.matching("video", named(sendVideosEventSpan, trace.SpanKindProducer))); n != 1 {
				return fmt.Errorf("%d %q spans in the request's trace, want 1", n, sendVideosEventSpan)
			}
			return nil
		})
		chain := func(sp sdktrace.ReadOnlySpan) []string { return tr.chainTo(t, sp, "video", createVideoSpan) }

		send := tr.one(t, "video", "send "+s.transcodeQueue, trace.SpanKindProducer)
		assertAttrs(t, "job send span", send.Attributes(), map[attribute.Key]string{
			"messaging.system":           "rabbitmq",
			"messaging.destination.name": s.transcodeQueue,
			"messaging.operation.type":   "send",
		})
		process := tr.one(t, "transcoder", "process "+s.transcodeQueue, trace.SpanKindConsumer)
		if process.Parent().SpanID() != send.SpanContext().SpanID() {
			t.Errorf("process span's parent is %s, want the job's send span", tr.name(process.Parent().SpanID()))
		}
		if !slices.ContainsFunc(process.Links(), func(l sdktrace.Link) bool {
			return l.SpanContext.SpanID() == send.SpanContext().SpanID()
		}) {
			t.Errorf("process span does not link to the send span: %v", process.Links())
		}
		assertAttrs(t, "job process span", process.Attributes(), map[attribute.Key]string{
			"messaging.system":           "rabbitmq",
			"messaging.destination.name": s.transcodeQueue,
			"messaging.operation.type":   "process",
		})
		client := tr.one(t, "transcoder", completeSpan, trace.SpanKindClient)
		if !tr.under(client, process.SpanContext().SpanID()) {
			t.Errorf("CompleteTranscode call is not under the process span: %v", chain(client))
		}
		server := tr.one(t, "video", completeSpan, trace.SpanKindServer)
		if server.Parent().SpanID() != client.SpanContext().SpanID() {
			t.Errorf("CompleteTranscode server span's parent is %s, want the transcoder's call", tr.name(server.Parent().SpanID()))
		}
		event := tr.one(t, "video", sendVideosEventSpan, trace.SpanKindProducer)
		if !tr.under(event, server.SpanContext().SpanID()) {
			t.Errorf("VideoPublished's send span is not under CompleteTranscode: %v", chain(event))
		}
		renders := tr.matching("transcoder", func(sp sdktrace.ReadOnlySpan) bool { return strings.HasPrefix(sp.Name(), "render ") })
		if len(renders) != 4 {
			t.Errorf("%d render spans, want one per rendition (4)", len(renders))
		}
		t.Logf("VideoPublished: %s", strings.Join(chain(event), " → "))
	})
}

// TestTranscodeFailsForGood: a job that fails every attempt is retried
// with the delay, reported FAILED on its last attempt and dead-lettered;
// the video ends failed and is never announced.
func TestTranscodeFailsForGood(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		url := workqueuetest.URL(t)
		s := start(t, b, kafkatest.Broker(t), options{rabbitURL: url})
		const attempts = 3
		s.startTranscoder(t, transcoding{failureRate: 1, maxAttempts: attempts})
		owner := s.newUser(t)
		v := s.newVideo(t, owner, "Scratched reel", 60)
		s.waitStatus(t, v.ID, "failed")

		var dead amqpMessage
		eventually(t, func() error {
			d, ok := workqueuetest.Get(t, url, s.transcodeQueue+".dlq")
			if !ok {
				return fmt.Errorf("nothing in %s.dlq yet", s.transcodeQueue)
			}
			dead = amqpMessage{key: fmt.Sprint(d.Headers["x-vidstream-key"]), attempt: fmt.Sprint(d.Headers["x-vidstream-attempt"]),
				err: fmt.Sprint(d.Headers["x-vidstream-error"])}
			return nil
		})
		if dead.key != v.ID || dead.attempt != fmt.Sprint(attempts) || !strings.Contains(dead.err, "simulated encoder failure") {
			t.Fatalf("dead-lettered job %+v, want video %s's after attempt %d with the encoder's error", dead, v.ID, attempts)
		}
		// Nothing announced a video that never became playable.
		if got := ofType(keyedBy(kafkatest.Records(t, s.brokers, videosTopic), v.ID), typeVideoPublished); len(got) != 0 {
			t.Fatalf("a failed video was announced: %d VideoPublished", len(got))
		}
	})
}

type amqpMessage struct{ key, attempt, err string }

func named(name string, kind trace.SpanKind) func(sdktrace.ReadOnlySpan) bool {
	return func(sp sdktrace.ReadOnlySpan) bool { return sp.Name() == name && sp.SpanKind() == kind }
}
