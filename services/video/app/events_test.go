package app_test

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/segmentio/kafka-go"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/vidstream/vidstream/services/api/events"
	eventsv1 "github.com/vidstream/vidstream/services/api/events/v1"
	"github.com/vidstream/vidstream/services/internal/httpx/httpxtest"
	"github.com/vidstream/vidstream/services/internal/kafkabus"
	"github.com/vidstream/vidstream/services/internal/kafkabus/kafkatest"
	"github.com/vidstream/vidstream/services/internal/telemetry"
	"github.com/vidstream/vidstream/services/internal/telemetry/telemetrytest"
)

// newKafkaEnv is newEnv with the video service on brokers; it returns the
// view counter's consumer group (unique to the test) too.
func newKafkaEnv(t *testing.T, db backend, brokers []string, p telemetry.Providers) (*env, string) {
	t.Helper()
	ua := startUser(t)
	cfg := videoConfig(t, ua.GRPCAddr(), db(t))
	cfg.KafkaBrokers = brokers
	va := startVideoWith(t, cfg, p)
	return &env{
		userURL:  "http://" + ua.HTTPAddr(),
		videoURL: "http://" + va.HTTPAddr(),
		grpcAddr: va.GRPCAddr(),
		client:   &httpxtest.Client{HTTP: &http.Client{Timeout: 10 * time.Second}},
	}, events.ViewCounterGroup + cfg.ConsumerGroupSuffix
}

func ensureTopic(t *testing.T, brokers []string, topic string) {
	t.Helper()
	if err := kafkabus.EnsureTopics(t.Context(), brokers, kafkabus.TopicSpec{Name: topic}); err != nil {
		t.Fatalf("ensure %s: %v", topic, err)
	}
}

func TestPublishesCatalogEvents(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			brokers := kafkatest.Broker(t)
			p, spans := telemetrytest.New(t)
			e, _ := newKafkaEnv(t, b.db, brokers, p)
			f := kafkatest.NewFeed(t, brokers, events.VideosTopic)
			owner, stranger := e.newUser(t), e.newUser(t)

			v := e.create(t, owner.token, movieReq("Metropolis"))
			path := "/v1/videos/" + v.ID
			r := e.video(t, http.MethodPatch, path, owner.token, map[string]any{"title": "Metropolis (1927)", "duration_seconds": 9180})
			if r.Status != http.StatusOK {
				t.Fatalf("patch: %d %s", r.Status, r.Body)
			}
			var patched videoBody
			r.Decode(t, &patched)
			// Neither a patch that changes nothing nor a refused one
			// publishes anything.
			if r := e.video(t, http.MethodPatch, path, owner.token, map[string]any{"title": "Metropolis (1927)"}); r.Status != http.StatusOK {
				t.Fatalf("no-op patch: %d %s", r.Status, r.Body)
			}
			wantProblem(t, e.video(t, http.MethodPatch, path, stranger.token, map[string]any{"title": "Stolen"}), http.StatusForbidden)
			wantProblem(t, e.video(t, http.MethodDelete, path, stranger.token, nil), http.StatusForbidden)
			if r := e.video(t, http.MethodDelete, path, owner.token, nil); r.Status != http.StatusNoContent {
				t.Fatalf("delete: %d %s", r.Status, r.Body)
			}

			// One video's events share a key and so a partition, in commit
			// order: anything the no-op or refused requests had published
			// would come before VideoDeleted.
			got := f.Wait(t, 3, kafkatest.Keyed(v.ID))
			var types []string
			for _, m := range got {
				types = append(types, kafkatest.Header(m, kafkabus.HeaderType))
			}
			wantTypes := []string{"vidstream.videos.v1.VideoPublished", "vidstream.videos.v1.VideoUpdated", "vidstream.videos.v1.VideoDeleted"}
			if !slices.Equal(types, wantTypes) {
				t.Fatalf("records keyed by the video: %q, want %q", types, wantTypes)
			}
			ids := map[string]bool{}
			for i, m := range got {
				kafkatest.CheckEnvelope(t, m, wantTypes[i], "/services/video")
				ids[kafkatest.Header(m, kafkabus.HeaderID)] = true
			}
			if len(ids) != 3 {
				t.Errorf("ce_ids %v are not distinct", ids)
			}

			var published eventsv1.VideoPublished
			decode(t, got[0], &published)
			wantPublished := &eventsv1.VideoPublished{VideoId: v.ID, OwnerId: owner.id, Title: "Metropolis",
				Kind: eventsv1.VideoKind_VIDEO_KIND_MOVIE, DurationSeconds: 5400, PublishedAt: timestamppb.New(v.CreatedAt)}
			if !proto.Equal(&published, wantPublished) {
				t.Errorf("VideoPublished = %v, want %v", &published, wantPublished)
			}
			var updated eventsv1.VideoUpdated
			decode(t, got[1], &updated)
			wantUpdated := &eventsv1.VideoUpdated{VideoId: v.ID, Title: "Metropolis (1927)", Description: v.Description,
				DurationSeconds: 9180, UpdatedAt: timestamppb.New(patched.UpdatedAt)}
			if !proto.Equal(&updated, wantUpdated) {
				t.Errorf("VideoUpdated = %v, want %v", &updated, wantUpdated)
			}
			var deleted eventsv1.VideoDeleted
			decode(t, got[2], &deleted)
			if deleted.GetVideoId() != v.ID || deleted.GetDeletedAt().AsTime().Before(patched.UpdatedAt) {
				t.Errorf("VideoDeleted = %v, want video %s deleted after its update", &deleted, v.ID)
			}

			kafkatest.AssertRequestTrace(t, spans, got[0], events.VideosTopic, "POST /v1/videos")
			kafkatest.AssertRequestTrace(t, spans, got[1], events.VideosTopic, "PATCH /v1/videos/{id}")
			kafkatest.AssertRequestTrace(t, spans, got[2], events.VideosTopic, "DELETE /v1/videos/{id}")
		})
	}
}

func decode(t *testing.T, m kafka.Message, dst proto.Message) {
	t.Helper()
	if err := proto.Unmarshal(m.Value, dst); err != nil {
		t.Fatalf("decode %s: %v", kafkatest.Header(m, kafkabus.HeaderType), err)
	}
}

// watchEvent builds a record the way watch history's outbox publishes it.
func watchEvent(t *testing.T, ceID, ceType, userID string, payload proto.Message) kafka.Message {
	t.Helper()
	value, err := proto.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	return rawWatchEvent(ceID, ceType, userID, value)
}

func rawWatchEvent(ceID, ceType, userID string, value []byte) kafka.Message {
	return kafka.Message{
		Topic: events.WatchTopic,
		Key:   []byte(userID),
		Value: value,
		Headers: []kafka.Header{
			{Key: kafkabus.HeaderSpecVersion, Value: []byte(kafkabus.SpecVersion)},
			{Key: kafkabus.HeaderID, Value: []byte(ceID)},
			{Key: kafkabus.HeaderType, Value: []byte(ceType)},
			{Key: kafkabus.HeaderSource, Value: []byte("/services/watch-history")},
			{Key: kafkabus.HeaderTime, Value: []byte(time.Now().UTC().Format(time.RFC3339Nano))},
			{Key: kafkabus.HeaderContentType, Value: []byte(kafkabus.ContentTypeProtobuf)},
		},
	}
}

func videoWatched(t *testing.T, ceID, userID, videoID string) kafka.Message {
	t.Helper()
	return watchEvent(t, ceID, "vidstream.watch.v1.VideoWatched", userID,
		&eventsv1.VideoWatched{UserId: userID, VideoId: videoID, WatchedAt: timestamppb.Now()})
}

// TestViewCounter drives the video.view-counter group with the records
// watch history publishes: each VideoWatched counts one view, once, however
// often it is delivered; everything else on the topic is ignored, and a
// poison record goes to the dead-letter topic without holding up the rest.
func TestViewCounter(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			brokers := kafkatest.Broker(t)
			p, spans := telemetrytest.New(t)
			e, group := newKafkaEnv(t, b.db, brokers, p)
			// The publishes below need the topic; the service creates it
			// as well, in the background.
			ensureTopic(t, brokers, events.WatchTopic)
			owner := e.newUser(t)
			a := e.create(t, owner.token, movieReq("A"))
			bv := e.create(t, owner.token, movieReq("B"))
			c := e.create(t, owner.token, movieReq("C"))
			views := func(id string, want int64) func() error {
				return func() error {
					var v videoBody
					e.video(t, http.MethodGet, "/v1/videos/"+id, "", nil).Decode(t, &v)
					if v.ViewCount != want {
						return fmt.Errorf("video %s has %d views, want %d", id, v.ViewCount, want)
					}
					return nil
				}
			}
			// Every record below is keyed by this one viewer, so they share
			// a partition and are processed in the order published: once a
			// later record's effect is visible, the earlier ones are done.
			viewer := uuid.NewString()

			first := videoWatched(t, uuid.NewString(), viewer, a.ID)
			var traceID [16]byte
			var spanID [8]byte
			_, _ = rand.Read(traceID[:])
			_, _ = rand.Read(spanID[:])
			first.Headers = append(first.Headers, kafka.Header{Key: "traceparent",
				Value: []byte("00-" + hex.EncodeToString(traceID[:]) + "-" + hex.EncodeToString(spanID[:]) + "-01")})
			kafkatest.Publish(t, brokers, first)
			kafkatest.Eventually(t, views(a.ID, 1))
			assertConsumerSpan(t, spans, trace.TraceID(traceID), trace.SpanID(spanID))

			// The same event again (a redelivery, a relay that published
			// twice), then what the counter must ignore, then a marker.
			ignoredIDs := []string{uuid.NewString(), uuid.NewString(), uuid.NewString()}
			kafkatest.Publish(t, brokers,
				videoWatched(t, kafkatest.Header(first, kafkabus.HeaderID), viewer, a.ID),
				watchEvent(t, ignoredIDs[0], "vidstream.watch.v1.WatchProgressed", viewer,
					&eventsv1.WatchProgressed{UserId: viewer, VideoId: a.ID, PositionSeconds: 5400, DurationSeconds: 5400, Completed: true}),
				rawWatchEvent(ignoredIDs[1], "vidstream.watch.v1.VideoRated", viewer, []byte("a future event")),
				videoWatched(t, ignoredIDs[2], viewer, uuid.NewString()), // a video deleted since
				videoWatched(t, uuid.NewString(), viewer, bv.ID),
			)
			kafkatest.Eventually(t, views(bv.ID, 1))
			if err := views(a.ID, 1)(); err != nil {
				t.Fatalf("after a duplicate delivery: %v", err)
			}
			for _, m := range kafkatest.Records(t, brokers, events.DLQ(events.WatchTopic)) {
				if id := kafkatest.Header(m, kafkabus.HeaderID); slices.Contains(ignoredIDs, id) {
					t.Errorf("ignored record %s (%s) was dead-lettered", id, kafkatest.Header(m, kafkabus.HeaderType))
				}
			}

			poisonID := uuid.NewString()
			poison := rawWatchEvent(poisonID, "vidstream.watch.v1.VideoWatched", viewer, []byte{0xff, 0xff, 0xff})
			kafkatest.Publish(t, brokers, poison, videoWatched(t, uuid.NewString(), viewer, c.ID))
			dlq := kafkatest.NewFeed(t, brokers, events.DLQ(events.WatchTopic))
			got := dlq.Wait(t, 1, func(m kafka.Message) bool { return kafkatest.Header(m, kafkabus.HeaderID) == poisonID })
			dead := got[0]
			if string(dead.Key) != viewer || string(dead.Value) != string(poison.Value) {
				t.Errorf("dead-lettered record %q=%x, want the original %q=%x", dead.Key, dead.Value, viewer, poison.Value)
			}
			for key, want := range map[string]string{
				kafkabus.HeaderType:             "vidstream.watch.v1.VideoWatched",
				kafkabus.HeaderDLQOriginalTopic: events.WatchTopic,
				kafkabus.HeaderDLQConsumerGroup: group,
				kafkabus.HeaderDLQPermanent:     "true",
			} {
				if got := kafkatest.Header(dead, key); got != want {
					t.Errorf("dead-lettered record: %s = %q, want %q", key, got, want)
				}
			}
			if kafkatest.Header(dead, kafkabus.HeaderDLQError) == "" {
				t.Error("dead-lettered record has no error header")
			}
			if _, err := strconv.ParseInt(kafkatest.Header(dead, kafkabus.HeaderDLQOriginalOffset), 10, 64); err != nil {
				t.Errorf("dead-lettered record: original offset %q", kafkatest.Header(dead, kafkabus.HeaderDLQOriginalOffset))
			}
			// The poison did not stop the counter.
			kafkatest.Eventually(t, views(c.ID, 1))
			if err := views(a.ID, 1)(); err != nil {
				t.Error(err)
			}
		})
	}
}

// assertConsumerSpan checks video's share of the one-trace design
// (docs/architecture.md#one-trace): the view counter's
// CONSUMER span continues the producer's trace as its child and links to it.
func assertConsumerSpan(t *testing.T, spans *tracetest.SpanRecorder, traceID trace.TraceID, producer trace.SpanID) {
	t.Helper()
	var span sdktrace.ReadOnlySpan
	kafkatest.Eventually(t, func() error {
		for _, s := range spans.Ended() {
			if s.SpanContext().TraceID() == traceID && s.Name() == "process "+events.WatchTopic {
				span = s
				return nil
			}
		}
		return fmt.Errorf("no %q span in trace %s", "process "+events.WatchTopic, traceID)
	})
	if span.SpanKind() != trace.SpanKindConsumer || span.Parent().SpanID() != producer {
		t.Errorf("process span: kind %s, parent %s, want a consumer span under %s", span.SpanKind(), span.Parent().SpanID(), producer)
	}
	if links := span.Links(); len(links) != 1 || links[0].SpanContext.SpanID() != producer {
		t.Errorf("process span links %+v, want one to the producer span", links)
	}
}
