package domain_test

import (
	"context"
	"database/sql"
	"slices"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/segmentio/kafka-go"

	"github.com/vidstream/vidstream/services/internal/apperr"
	"github.com/vidstream/vidstream/services/internal/database"
	"github.com/vidstream/vidstream/services/internal/database/databasetest"
	"github.com/vidstream/vidstream/services/internal/kafkabus"
	"github.com/vidstream/vidstream/services/internal/outbox"
	"github.com/vidstream/vidstream/services/internal/telemetry"
	"github.com/vidstream/vidstream/services/video/internal/domain"
	"github.com/vidstream/vidstream/services/video/internal/store"
)

// recordingPublisher stands in for Kafka: it keeps what the relay publishes.
type recordingPublisher struct {
	mu   sync.Mutex
	msgs []kafka.Message
}

func (p *recordingPublisher) Publish(_ context.Context, msgs ...kafka.Message) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.msgs = append(p.msgs, msgs...)
	return nil
}

// Each committed catalog change publishes its event through the real store
// and outbox; rejected, forbidden and no-op changes publish nothing. (The
// wire format and the Kafka side are covered by the store and app tests.)
func TestEvents(t *testing.T) {
	databasetest.ForEachBackend(t, store.Migrations(), func(t *testing.T, db *database.DB) {
		ctx := t.Context()
		if err := outbox.Migrate(ctx, db); err != nil {
			t.Fatal(err)
		}
		st := store.New(db, outbox.New(db, "/services/video", telemetry.Noop()))
		svc := domain.NewService(st)
		pub := &recordingPublisher{}
		relay := outbox.NewRelay(db, pub, telemetry.Noop(), outbox.RelayOptions{})
		want := func(step string, types ...string) {
			t.Helper()
			for {
				n, err := relay.RunOnce(ctx)
				if err != nil {
					t.Fatalf("relay: %v", err)
				}
				if n == 0 {
					break
				}
			}
			pub.mu.Lock()
			var got []string
			for _, m := range pub.msgs {
				got = append(got, kafkabus.Message{Headers: m.Headers}.Type())
			}
			pub.msgs = nil
			pub.mu.Unlock()
			if !slices.Equal(got, types) {
				t.Errorf("%s published %q, want %q", step, got, types)
			}
		}
		owner, stranger := uuid.New(), uuid.New()

		v, err := svc.Create(ctx, owner, domain.NewVideo{Title: "Metropolis", Kind: domain.KindMovie, DurationSeconds: 9000})
		if err != nil {
			t.Fatal(err)
		}
		want("Create", "vidstream.videos.v1.VideoPublished")
		if _, err := svc.Create(ctx, owner, domain.NewVideo{Title: "", Kind: domain.KindMovie, DurationSeconds: 1}); apperr.KindOf(err) != apperr.Invalid {
			t.Fatalf("invalid create: %v", err)
		}
		want("invalid Create")

		if _, err := svc.Update(ctx, owner, v.ID, domain.Patch{Title: domain.SetTo("Metropolis (1927)")}); err != nil {
			t.Fatal(err)
		}
		want("Update", "vidstream.videos.v1.VideoUpdated")
		if _, err := svc.Update(ctx, owner, v.ID, domain.Patch{Title: domain.SetTo("Metropolis (1927)")}); err != nil {
			t.Fatal(err)
		}
		want("no-op Update")
		if _, err := svc.Update(ctx, stranger, v.ID, domain.Patch{Title: domain.SetTo("Mine")}); apperr.KindOf(err) != apperr.Forbidden {
			t.Fatalf("stranger's update: %v", err)
		}
		want("forbidden Update")

		// Views are not catalog changes: nothing to announce.
		err = db.InTx(ctx, func(tx *sql.Tx) error { _, err := svc.RecordView(ctx, st.Bind(tx), v.ID); return err })
		if err != nil {
			t.Fatal(err)
		}
		want("RecordView")

		if err := svc.Delete(ctx, stranger, v.ID); apperr.KindOf(err) != apperr.Forbidden {
			t.Fatalf("stranger's delete: %v", err)
		}
		want("forbidden Delete")
		if err := svc.Delete(ctx, owner, v.ID); err != nil {
			t.Fatal(err)
		}
		want("Delete", "vidstream.videos.v1.VideoDeleted")
		if err := svc.Delete(ctx, owner, v.ID); apperr.KindOf(err) != apperr.NotFound {
			t.Fatalf("second delete: %v", err)
		}
		want("Delete of a deleted video")
	})
}

// RecordView counts into the caller's transaction and treats a video that
// is gone as nothing to count.
func TestRecordView(t *testing.T) {
	databasetest.ForEachBackend(t, store.Migrations(), func(t *testing.T, db *database.DB) {
		ctx := t.Context()
		if err := outbox.Migrate(ctx, db); err != nil {
			t.Fatal(err)
		}
		st := store.New(db, outbox.New(db, "/services/video", telemetry.Noop()))
		svc := domain.NewService(st)
		v, err := svc.Create(ctx, uuid.New(), domain.NewVideo{Title: "Seen", Kind: domain.KindMovie, DurationSeconds: 60})
		if err != nil {
			t.Fatal(err)
		}
		record := func(id uuid.UUID) bool {
			t.Helper()
			var counted bool
			err := db.InTx(ctx, func(tx *sql.Tx) error {
				var err error
				counted, err = svc.RecordView(ctx, st.Bind(tx), id)
				return err
			})
			if err != nil {
				t.Fatalf("RecordView(%s): %v", id, err)
			}
			return counted
		}
		for range 2 {
			if !record(v.ID) {
				t.Fatal("a view of an existing video was not counted")
			}
		}
		if got, _ := svc.Get(ctx, v.ID); got.ViewCount != 2 {
			t.Fatalf("view_count = %d, want 2", got.ViewCount)
		}
		if record(uuid.New()) {
			t.Fatal("a view of an unknown video was counted")
		}
	})
}
