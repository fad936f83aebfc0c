package systemtest

import (
	"slices"
	"testing"

	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel/attribute"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/vidstream/vidstream/services/api/events/v1"
	"github.com/vidstream/vidstream/services/internal/kafkabus"
	"github.com/vidstream/vidstream/services/internal/kafkabus/kafkatest"
)

// TestWatchingCountsAView is the PUT → VideoWatched → view_count flow
// across the three real services: a user reaching 90% of a video counts one
// view there, however often they report positions past it afterwards, and
// another user's completion counts another.
func TestWatchingCountsAView(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		s := start(t, b, kafkatest.Broker(t), options{})
		owner, ann, bob := s.newUser(t), s.newUser(t), s.newUser(t)
		v := s.newVideo(t, owner, "Night Train", 100)
		if v.ViewCount != 0 {
			t.Fatalf("new video has view_count %d", v.ViewCount)
		}

		for _, pos := range []int{10, 50, 89} {
			if e := s.put(t, ann, v.ID, pos); e.Completed {
				t.Fatalf("position %d of 100 reported as completed", pos)
			}
		}
		if e := s.put(t, ann, v.ID, 90); !e.Completed {
			t.Fatalf("position 90 of 100 not completed: %+v", e)
		}
		s.waitViewCount(t, v.ID, 1)

		// Past 90% again, after rewinding too: progress, but no new view.
		for _, pos := range []int{95, 20, 100} {
			s.put(t, ann, v.ID, pos)
		}
		// 7 WatchProgressed and 1 VideoWatched: wait until video's view
		// counter has finished with all of them before asserting that
		// nothing changed.
		anns := waitRecords(t, s.brokers, watchTopic, 8, ann.id)
		assertWatchEvents(t, unique(anns), ann.id, v.ID, []int32{10, 50, 89, 90, 95, 20, 100}, 90)
		waitConsumed(t, s.brokers, s.viewCounterGroup, anns...)
		if got := s.viewCount(t, v.ID); got != 1 {
			t.Fatalf("view_count after more reports past 90%% = %d, want 1", got)
		}

		// "Once" is per user and video.
		s.put(t, bob, v.ID, 100)
		s.waitViewCount(t, v.ID, 2)
	})
}

// assertWatchEvents checks one user's records on the watch topic for one
// video: a WatchProgressed per report, in order, and exactly one
// VideoWatched, right after the first report at or past completedAt.
func assertWatchEvents(t *testing.T, msgs []kafka.Message, userID, videoID string, positions []int32, completedAt int32) {
	t.Helper()
	var got []string
	var progressed []int32
	for _, m := range msgs {
		typ := kafkatest.Header(m, kafkabus.HeaderType)
		switch typ {
		case typeWatchProgressed:
			var ev eventsv1.WatchProgressed
			if err := proto.Unmarshal(m.Value, &ev); err != nil {
				t.Fatalf("decode WatchProgressed: %v", err)
			}
			if ev.GetUserId() != userID || ev.GetVideoId() != videoID {
				t.Fatalf("WatchProgressed keyed %s is about user %s, video %s", m.Key, ev.GetUserId(), ev.GetVideoId())
			}
			progressed = append(progressed, ev.GetPositionSeconds())
			got = append(got, "progressed")
		case typeVideoWatched:
			var ev eventsv1.VideoWatched
			if err := proto.Unmarshal(m.Value, &ev); err != nil {
				t.Fatalf("decode VideoWatched: %v", err)
			}
			if ev.GetUserId() != userID || ev.GetVideoId() != videoID {
				t.Fatalf("VideoWatched keyed %s is about user %s, video %s", m.Key, ev.GetUserId(), ev.GetVideoId())
			}
			got = append(got, "watched")
		default:
			t.Fatalf("unexpected ce_type %q on %s", typ, watchTopic)
		}
	}
	if !slices.Equal(progressed, positions) {
		t.Fatalf("WatchProgressed positions %v, want %v in order", progressed, positions)
	}
	var want []string
	for i, p := range positions {
		want = append(want, "progressed")
		if p >= completedAt && !slices.ContainsFunc(positions[:i], func(q int32) bool { return q >= completedAt }) {
			want = append(want, "watched")
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("records %v, want %v", got, want)
	}
}

// TestRedeliveredVideoWatchedCountsOnce re-publishes a VideoWatched record
// the relay published, same ce_id and all, as a producer retry or a
// rebalance would deliver it again: video's view counter must see it and
// change nothing.
func TestRedeliveredVideoWatchedCountsOnce(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		s := start(t, b, kafkatest.Broker(t), options{})
		owner, ann := s.newUser(t), s.newUser(t)
		v := s.newVideo(t, owner, "Night Train", 100)
		s.put(t, ann, v.ID, 95)
		s.waitViewCount(t, v.ID, 1)

		msgs := ofType(unique(waitRecords(t, s.brokers, watchTopic, 2, ann.id)), typeVideoWatched)
		if len(msgs) != 1 {
			t.Fatalf("%d VideoWatched records, want 1", len(msgs))
		}
		original := msgs[0]
		dup := kafka.Message{Topic: watchTopic, Key: original.Key, Value: original.Value, Headers: original.Headers}
		// The same partition as the original: where a redelivery comes
		// from.
		offset := produce(t, s.brokers, original.Partition, dup)
		dup.Partition, dup.Offset = original.Partition, offset

		waitConsumed(t, s.brokers, s.viewCounterGroup, dup)
		if got := s.viewCount(t, v.ID); got != 1 {
			t.Fatalf("view_count after the duplicate = %d, want 1", got)
		}
		// The consumer did see the copy, and recognized it.
		span := processSpan(t, s, dup)
		if outcome := attr(span.Attributes(), "vidstream.consumer.outcome"); outcome.AsString() != "duplicate" {
			t.Errorf("the copy's process span has outcome %q, want duplicate", outcome.String())
		}
	})
}

// attr returns the value of key among attrs (the zero value if absent).
func attr(attrs []attribute.KeyValue, key attribute.Key) attribute.Value {
	for _, kv := range attrs {
		if kv.Key == key {
			return kv.Value
		}
	}
	return attribute.Value{}
}
