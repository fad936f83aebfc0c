package store

import (
	"fmt"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/vidstream/vidstream/services/api/events"
	eventsv1 "github.com/vidstream/vidstream/services/api/events/v1"
	"github.com/vidstream/vidstream/services/internal/outbox"
	"github.com/vidstream/vidstream/services/watch-history/internal/domain"
)

// toOutbox translates a domain event into its wire contract
// (services/api/events/v1).
func toOutbox(e domain.Event) (outbox.Event, error) {
	switch e := e.(type) {
	case domain.WatchProgressed:
		return outbox.Event{
			Topic: events.WatchTopic,
			Key:   e.UserID.String(),
			Payload: &eventsv1.WatchProgressed{
				UserId:          e.UserID.String(),
				VideoId:         e.VideoID.String(),
				PositionSeconds: int32(e.PositionSeconds), // bounded by the duration, an int32 on every wire
				DurationSeconds: int32(e.DurationSeconds), // came from an int32 on the wire
				Completed:       e.Completed,
				OccurredAt:      timestamppb.New(e.OccurredAt),
			},
		}, nil
	case domain.VideoWatched:
		return outbox.Event{
			Topic: events.WatchTopic,
			Key:   e.UserID.String(),
			Payload: &eventsv1.VideoWatched{
				UserId:    e.UserID.String(),
				VideoId:   e.VideoID.String(),
				WatchedAt: timestamppb.New(e.WatchedAt),
			},
		}, nil
	default:
		return outbox.Event{}, fmt.Errorf("store: no wire format for event %T", e)
	}
}
