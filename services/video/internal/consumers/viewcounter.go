// Package consumers applies other services' Kafka events to the video catalog:
// counting views from watch history's VideoWatched. The handler runs inside
// the kafkabus consumer's transaction, which also records the event's ce_id,
// so a redelivered event is skipped and every view is counted once.
package consumers

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	"github.com/vidstream/vidstream/services/api/events"
	eventsv1 "github.com/vidstream/vidstream/services/api/events/v1"
	"github.com/vidstream/vidstream/services/internal/apperr"
	"github.com/vidstream/vidstream/services/internal/kafkabus"
	"github.com/vidstream/vidstream/services/video/internal/domain"
)

// typeVideoWatched is the ce_type acted on.
var typeVideoWatched = events.Type(events.WatchTopic, &eventsv1.VideoWatched{})

// Binder gives domain operations over a transaction the caller owns;
// *store.Store is the production one.
type Binder interface {
	Bind(tx *sql.Tx) domain.Tx
}

// ViewCounter is the handler of vidstream.watch.v1.
type ViewCounter struct {
	svc   *domain.Service
	store Binder
	log   *slog.Logger
}

// NewViewCounter returns the handler, counting views through svc in
// transactions bound by store. log receives one line per ignored view.
func NewViewCounter(svc *domain.Service, store Binder, log *slog.Logger) *ViewCounter {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &ViewCounter{svc: svc, store: store, log: log}
}

// Handle is a kafkabus.Handler. VideoWatched counts one view of its video.
// Other event types on the topic (WatchProgressed) are none of the counter's
// business and are acknowledged without effect; types added in the future
// are skipped (kafkabus.Skip), which is what lets producers add events
// without breaking consumers.
func (h *ViewCounter) Handle(ctx context.Context, tx *sql.Tx, m kafkabus.Message) error {
	if m.Type() != typeVideoWatched {
		if events.Known(m.Type()) {
			return nil
		}
		// Added by a newer producer: logged and counted as skipped by
		// the consumer, not dead-lettered.
		return kafkabus.Skip(fmt.Sprintf("event type %q is unknown to this version", m.Type()))
	}
	var ev eventsv1.VideoWatched
	if err := proto.Unmarshal(m.Value, &ev); err != nil {
		// It will not decode on the next attempt either: dead-letter it
		// at once.
		return kafkabus.Permanent(fmt.Errorf("decode %s payload: %w", m.Type(), err))
	}
	videoID, err := uuid.Parse(ev.GetVideoId())
	if err != nil {
		return kafkabus.Permanent(fmt.Errorf("video_id %q is not a UUID: %w", ev.GetVideoId(), err))
	}
	counted, err := h.svc.RecordView(ctx, h.store.Bind(tx), videoID)
	if err != nil {
		if apperr.KindOf(err) == apperr.Invalid {
			// Retrying the same bytes would be rejected the same way.
			return kafkabus.Permanent(err)
		}
		return err // a database hiccup: the consumer retries
	}
	if !counted {
		h.log.InfoContext(ctx, "view of an unknown video ignored; it may have been deleted since",
			slog.String("video_id", videoID.String()), slog.String("ce_id", m.ID()))
	}
	return nil
}
