package consumers_test

import (
	"database/sql"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/segmentio/kafka-go"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/vidstream/vidstream/services/api/events"
	eventsv1 "github.com/vidstream/vidstream/services/api/events/v1"
	"github.com/vidstream/vidstream/services/internal/database/databasetest"
	"github.com/vidstream/vidstream/services/internal/kafkabus"
	"github.com/vidstream/vidstream/services/watch-history/internal/consumers"
	"github.com/vidstream/vidstream/services/watch-history/internal/domain"
	"github.com/vidstream/vidstream/services/watch-history/internal/store"
)

// FuzzEvents feeds both handlers arbitrary payloads under every ce_type they
// may see (and unknown ones) over a real SQLite store: never a panic, and a
// record that cannot be applied is Permanent (dead-lettered at once) or
// skipped, never an error that would be retried forever with the same
// bytes.
func FuzzEvents(f *testing.F) {
	types := []string{
		events.Type(events.UsersTopic, &eventsv1.UserDeleted{}),
		events.Type(events.UsersTopic, &eventsv1.UserCreated{}),
		events.Type(events.VideosTopic, &eventsv1.VideoUpdated{}),
		events.Type(events.VideosTopic, &eventsv1.VideoDeleted{}),
		events.Type(events.VideosTopic, &eventsv1.VideoPublished{}),
		events.UsersTopic + ".UserRenamed",
		"",
	}
	seed := func(m proto.Message) []byte {
		b, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	id := uuid.NewString()
	for i := range types {
		f.Add(uint8(i), seed(&eventsv1.UserDeleted{UserId: id, DeletedAt: timestamppb.Now()}))
		f.Add(uint8(i), seed(&eventsv1.VideoUpdated{VideoId: id, Title: "T", DurationSeconds: 60, UpdatedAt: timestamppb.Now()}))
		f.Add(uint8(i), seed(&eventsv1.VideoDeleted{VideoId: "not-a-uuid"}))
		f.Add(uint8(i), []byte{0xff, 0xff})
		f.Add(uint8(i), []byte{})
	}

	db := databasetest.OpenSQLite(f, store.Migrations())
	st := store.New(db, discard{})
	h := consumers.New(domain.NewService(st, catalog{}), st)
	// A user with history, so deletes and renames have something to do.
	user, video := uuid.New(), domain.Video{ID: uuid.New(), Title: "Film", DurationSeconds: 600, UpdatedAt: t0}
	if _, err := domain.NewService(st, catalog{video.ID: video}).RecordProgress(f.Context(), user, video.ID, 10); err != nil {
		f.Fatal(err)
	}

	f.Fuzz(func(t *testing.T, typ uint8, payload []byte) {
		ceType := types[int(typ)%len(types)]
		m := kafkabus.Message{
			Topic: "fuzz",
			Key:   []byte(user.String()),
			Value: payload,
			Headers: []kafka.Header{
				{Key: kafkabus.HeaderID, Value: []byte(uuid.NewString())},
				{Key: kafkabus.HeaderType, Value: []byte(ceType)},
				{Key: kafkabus.HeaderTime, Value: []byte(time.Now().UTC().Format(time.RFC3339Nano))},
			},
		}
		for name, handle := range map[string]kafkabus.Handler{"users": h.Users, "videos": h.Videos} {
			err := db.InTx(t.Context(), func(tx *sql.Tx) error { return handle(t.Context(), tx, m) })
			if err != nil && !kafkabus.IsPermanent(err) && !kafkabus.IsSkipped(err) {
				t.Fatalf("%s handler, %s %x: retryable error %v for bytes that will not change", name, ceType, payload, err)
			}
		}
	})
}
