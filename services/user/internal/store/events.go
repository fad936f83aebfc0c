package store

import (
	"fmt"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/vidstream/vidstream/services/api/events"
	eventsv1 "github.com/vidstream/vidstream/services/api/events/v1"
	"github.com/vidstream/vidstream/services/internal/outbox"
	"github.com/vidstream/vidstream/services/user/internal/domain"
)

// toOutbox translates a domain event into its wire contract
// (services/api/events/v1).
func toOutbox(e domain.Event) (outbox.Event, error) {
	switch e := e.(type) {
	case domain.UserCreated:
		return outbox.Event{
			Topic: events.UsersTopic,
			Key:   e.UserID.String(),
			Payload: &eventsv1.UserCreated{
				UserId:      e.UserID.String(),
				DisplayName: e.DisplayName,
				CreatedAt:   timestamppb.New(e.CreatedAt),
			},
		}, nil
	case domain.UserDeleted:
		return outbox.Event{
			Topic: events.UsersTopic,
			Key:   e.UserID.String(),
			Payload: &eventsv1.UserDeleted{
				UserId:    e.UserID.String(),
				DeletedAt: timestamppb.New(e.DeletedAt),
			},
		}, nil
	default:
		return outbox.Event{}, fmt.Errorf("store: no wire format for event %T", e)
	}
}
