package consumers_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/google/uuid"
	"github.com/segmentio/kafka-go"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/vidstream/vidstream/services/api/events"
	eventsv1 "github.com/vidstream/vidstream/services/api/events/v1"
	"github.com/vidstream/vidstream/services/internal/database"
	"github.com/vidstream/vidstream/services/internal/database/databasetest"
	"github.com/vidstream/vidstream/services/internal/kafkabus"
	"github.com/vidstream/vidstream/services/internal/outbox"
	"github.com/vidstream/vidstream/services/internal/telemetry"
	"github.com/vidstream/vidstream/services/video/internal/consumers"
	"github.com/vidstream/vidstream/services/video/internal/domain"
	"github.com/vidstream/vidstream/services/video/internal/store"
)

func message(t *testing.T, ceType string, payload []byte) kafkabus.Message {
	t.Helper()
	return kafkabus.Message{
		Topic: events.WatchTopic,
		Key:   []byte(uuid.NewString()),
		Value: payload,
		Headers: []kafka.Header{
			{Key: kafkabus.HeaderID, Value: []byte(uuid.NewString())},
			{Key: kafkabus.HeaderType, Value: []byte(ceType)},
		},
	}
}

func encode(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The handler decides per record: count, ignore, or give up for good. The
// consumer around it (inbox, retries, dead-lettering) is kafkabus's and is
// exercised end to end in the app tests.
func TestViewCounter(t *testing.T) {
	databasetest.ForEachBackend(t, store.Migrations(), func(t *testing.T, db *database.DB) {
		ctx := t.Context()
		if err := outbox.Migrate(ctx, db); err != nil {
			t.Fatal(err)
		}
		st := store.New(db, outbox.New(db, "/services/video", telemetry.Noop()))
		svc := domain.NewService(st)
		var logs bytes.Buffer
		h := consumers.NewViewCounter(svc, st, slog.New(slog.NewJSONHandler(&logs, nil)))
		handle := func(m kafkabus.Message) error {
			return db.InTx(ctx, func(tx *sql.Tx) error { return h.Handle(ctx, tx, m) })
		}
		v, err := svc.Create(ctx, uuid.New(), domain.NewVideo{Title: "Counted", Kind: domain.KindMovie, DurationSeconds: 60})
		if err != nil {
			t.Fatal(err)
		}
		views := func() int64 {
			t.Helper()
			got, err := svc.Get(ctx, v.ID)
			if err != nil {
				t.Fatal(err)
			}
			return got.ViewCount
		}
		watched := func(videoID string) []byte {
			return encode(t, &eventsv1.VideoWatched{UserId: uuid.NewString(), VideoId: videoID, WatchedAt: timestamppb.Now()})
		}
		const typeWatched = "vidstream.watch.v1.VideoWatched"

		if err := handle(message(t, typeWatched, watched(v.ID.String()))); err != nil {
			t.Fatalf("VideoWatched: %v", err)
		}
		if n := views(); n != 1 {
			t.Fatalf("view_count = %d after one VideoWatched, want 1", n)
		}

		// A type of the contract that is not the counter's business is
		// acknowledged; a type the contract does not have (a newer
		// producer's) is skipped: acknowledged too, but logged and
		// counted by the consumer, and never dead-lettered.
		progressed := message(t, "vidstream.watch.v1.WatchProgressed", encode(t, &eventsv1.WatchProgressed{
			UserId: uuid.NewString(), VideoId: v.ID.String(), PositionSeconds: 60, DurationSeconds: 60, Completed: true,
		}))
		if err := handle(progressed); err != nil {
			t.Errorf("WatchProgressed: %v, want it acknowledged without effect", err)
		}
		for name, m := range map[string]kafkabus.Message{
			"a future type":      message(t, "vidstream.watch.v1.VideoRated", []byte{0xff}),
			"no ce_type":         message(t, "", watched(v.ID.String())),
			"another topic type": message(t, "vidstream.videos.v1.VideoWatched", watched(v.ID.String())),
		} {
			if err := handle(m); !kafkabus.IsSkipped(err) || kafkabus.IsPermanent(err) {
				t.Errorf("%s: %v, want it skipped", name, err)
			}
		}
		if n := views(); n != 1 {
			t.Fatalf("view_count = %d after events the counter ignores, want 1", n)
		}

		for name, payload := range map[string][]byte{
			"undecodable payload": {0xff, 0xff, 0xff},
			"malformed video_id":  watched("not-a-uuid"),
			"missing video_id":    encode(t, &eventsv1.VideoWatched{UserId: uuid.NewString()}),
		} {
			if err := handle(message(t, typeWatched, payload)); !kafkabus.IsPermanent(err) {
				t.Errorf("%s: %v, want a permanent error (dead-letter at once)", name, err)
			}
		}

		// The video may have been deleted after it was watched: not an
		// error, just nothing to count, and a line saying so.
		gone := uuid.New()
		if err := handle(message(t, typeWatched, watched(gone.String()))); err != nil {
			t.Fatalf("VideoWatched of an unknown video: %v, want it ignored", err)
		}
		var line struct {
			Level   string `json:"level"`
			VideoID string `json:"video_id"`
		}
		if err := json.Unmarshal(logs.Bytes(), &line); err != nil || line.Level != "INFO" || line.VideoID != gone.String() {
			t.Errorf("log = %q (%v), want one INFO line naming video %s", logs.String(), err, gone)
		}
		if n := views(); n != 1 {
			t.Fatalf("view_count = %d, want 1", n)
		}

		// A failing transaction takes the increment with it, so the
		// consumer's retry counts the view once.
		_ = db.InTx(ctx, func(tx *sql.Tx) error {
			if err := h.Handle(ctx, tx, message(t, typeWatched, watched(v.ID.String()))); err != nil {
				t.Fatal(err)
			}
			return context.DeadlineExceeded
		})
		if n := views(); n != 1 {
			t.Fatalf("view_count = %d after a rolled-back VideoWatched, want 1", n)
		}
	})
}
