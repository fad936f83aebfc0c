package consumers_test

import (
	"database/sql"
	"log/slog"
	"testing"

	"github.com/google/uuid"
	"github.com/segmentio/kafka-go"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/vidstream/vidstream/services/api/events"
	eventsv1 "github.com/vidstream/vidstream/services/api/events/v1"
	"github.com/vidstream/vidstream/services/internal/database/databasetest"
	"github.com/vidstream/vidstream/services/internal/kafkabus"
	"github.com/vidstream/vidstream/services/internal/outbox"
	"github.com/vidstream/vidstream/services/internal/telemetry"
	"github.com/vidstream/vidstream/services/video/internal/consumers"
	"github.com/vidstream/vidstream/services/video/internal/domain"
	"github.com/vidstream/vidstream/services/video/internal/store"
)

// FuzzViewCounter feeds the view counter arbitrary payloads under the
// ce_types of its topic (and unknown ones) over a real SQLite store: never
// a panic, and a record it cannot apply is Permanent or skipped, never
// retried with the same bytes.
func FuzzViewCounter(f *testing.F) {
	types := []string{
		events.Type(events.WatchTopic, &eventsv1.VideoWatched{}),
		events.Type(events.WatchTopic, &eventsv1.WatchProgressed{}),
		events.WatchTopic + ".VideoRated",
		"",
	}
	db := databasetest.OpenSQLite(f, store.Migrations())
	if err := outbox.Migrate(f.Context(), db); err != nil {
		f.Fatal(err)
	}
	st := store.New(db, outbox.New(db, "/services/video", telemetry.Noop()))
	svc := domain.NewService(st)
	v, err := svc.Create(f.Context(), uuid.New(), domain.NewVideo{Title: "Counted", Kind: domain.KindMovie, DurationSeconds: 60})
	if err != nil {
		f.Fatal(err)
	}
	for i := range types {
		for _, m := range []proto.Message{
			&eventsv1.VideoWatched{UserId: uuid.NewString(), VideoId: v.ID.String(), WatchedAt: timestamppb.Now()},
			&eventsv1.VideoWatched{VideoId: "not-a-uuid"},
			&eventsv1.VideoWatched{VideoId: uuid.NewString()},
		} {
			b, err := proto.Marshal(m)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(uint8(i), b)
		}
		f.Add(uint8(i), []byte{0xff})
	}
	h := consumers.NewViewCounter(svc, st, slog.New(slog.DiscardHandler))

	f.Fuzz(func(t *testing.T, typ uint8, payload []byte) {
		m := kafkabus.Message{
			Topic: events.WatchTopic,
			Key:   []byte(uuid.NewString()),
			Value: payload,
			Headers: []kafka.Header{
				{Key: kafkabus.HeaderID, Value: []byte(uuid.NewString())},
				{Key: kafkabus.HeaderType, Value: []byte(types[int(typ)%len(types)])},
			},
		}
		err := db.InTx(t.Context(), func(tx *sql.Tx) error { return h.Handle(t.Context(), tx, m) })
		if err != nil && !kafkabus.IsPermanent(err) && !kafkabus.IsSkipped(err) {
			t.Fatalf("%s %x: retryable error %v for bytes that will not change", m.Type(), payload, err)
		}
	})
}
