// Package consumers applies other services' Kafka events to watch history:
// forgetting deleted users and videos and keeping copied titles fresh. The
// handlers run inside the kafkabus consumer's transaction, which also records
// the event's ce_id, so a redelivered event is skipped and every effect here
// happens once.
package consumers

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	"github.com/vidstream/vidstream/services/api/events"
	eventsv1 "github.com/vidstream/vidstream/services/api/events/v1"
	"github.com/vidstream/vidstream/services/internal/apperr"
	"github.com/vidstream/vidstream/services/internal/kafkabus"
	"github.com/vidstream/vidstream/services/watch-history/internal/domain"
)

// The ce_type values this package acts on.
var (
	typeUserDeleted  = events.Type(events.UsersTopic, &eventsv1.UserDeleted{})
	typeVideoUpdated = events.Type(events.VideosTopic, &eventsv1.VideoUpdated{})
	typeVideoDeleted = events.Type(events.VideosTopic, &eventsv1.VideoDeleted{})
)

// Binder gives domain operations over a transaction the caller owns;
// *store.Store is the production one.
type Binder interface {
	Bind(tx *sql.Tx) domain.Tx
}

// Handlers holds the kafkabus.Handler of each consumed topic.
type Handlers struct {
	svc   *domain.Service
	store Binder
}

// New returns the handlers, applying events through svc in transactions
// bound by store.
func New(svc *domain.Service, store Binder) *Handlers {
	return &Handlers{svc: svc, store: store}
}

// Users handles vidstream.users.v1: UserDeleted purges the user's history.
// Other event types on the topic (UserCreated) are none of this service's
// business and are acknowledged without effect; types added in the future
// are skipped (see ignore), which is what lets producers add events without
// breaking consumers.
func (h *Handlers) Users(ctx context.Context, tx *sql.Tx, m kafkabus.Message) error {
	if m.Type() != typeUserDeleted {
		return ignore(m)
	}
	var ev eventsv1.UserDeleted
	if err := decode(m, &ev); err != nil {
		return err
	}
	userID, err := parseID("user_id", ev.GetUserId())
	if err != nil {
		return err
	}
	return classify(h.svc.ForgetUser(ctx, h.store.Bind(tx), userID))
}

// Videos handles vidstream.videos.v1: VideoUpdated refreshes the copied
// title and duration, VideoDeleted removes the video from every history.
// Other types (VideoPublished) are acknowledged without effect: an entry
// only exists once someone watched the video, and then it is fetched fresh.
func (h *Handlers) Videos(ctx context.Context, tx *sql.Tx, m kafkabus.Message) error {
	switch m.Type() {
	case typeVideoUpdated:
		var ev eventsv1.VideoUpdated
		if err := decode(m, &ev); err != nil {
			return err
		}
		videoID, err := parseID("video_id", ev.GetVideoId())
		if err != nil {
			return err
		}
		if ev.GetUpdatedAt() == nil {
			// Without a version the update could not be ordered against
			// what is stored; applying it blindly could undo a newer one.
			return kafkabus.Permanent(fmt.Errorf("%s: updated_at is missing", m.Type()))
		}
		return classify(h.svc.RefreshVideo(ctx, h.store.Bind(tx), domain.Video{
			ID:              videoID,
			Title:           ev.GetTitle(),
			DurationSeconds: int(ev.GetDurationSeconds()),
			UpdatedAt:       ev.GetUpdatedAt().AsTime(),
		}))
	case typeVideoDeleted:
		var ev eventsv1.VideoDeleted
		if err := decode(m, &ev); err != nil {
			return err
		}
		videoID, err := parseID("video_id", ev.GetVideoId())
		if err != nil {
			return err
		}
		return classify(h.svc.ForgetVideo(ctx, h.store.Bind(tx), videoID))
	default:
		return ignore(m)
	}
}

// ignore acknowledges an event this service has no use for. A type of the
// contract (VideoPublished) is simply not its business; a type the
// contract does not have yet was added by a newer producer and is skipped,
// which logs and counts it, so a consumer falling behind the contract shows.
func ignore(m kafkabus.Message) error {
	if events.Known(m.Type()) {
		return nil
	}
	return kafkabus.Skip(fmt.Sprintf("event type %q is unknown to this version", m.Type()))
}

// decode unmarshals the payload. A record that does not decode will not
// decode on the next attempt either, so it goes to the dead-letter topic at
// once.
func decode(m kafkabus.Message, dst proto.Message) error {
	if err := proto.Unmarshal(m.Value, dst); err != nil {
		return kafkabus.Permanent(fmt.Errorf("decode %s payload: %w", m.Type(), err))
	}
	return nil
}

func parseID(field, raw string) (uuid.UUID, error) {
	id, err := uuid.Parse(raw)
	if err != nil {
		return uuid.Nil, kafkabus.Permanent(fmt.Errorf("%s %q is not a UUID: %w", field, raw, err))
	}
	return id, nil
}

// classify marks an event the domain rejects as invalid as permanent:
// retrying the same bytes would be rejected the same way. Anything else (a
// database hiccup) is left to the consumer's retries.
func classify(err error) error {
	if apperr.KindOf(err) == apperr.Invalid {
		return kafkabus.Permanent(err)
	}
	return err
}
