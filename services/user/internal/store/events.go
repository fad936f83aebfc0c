package store

import (
	"fmt"

	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/vidstream/vidstream/services/api/events/v1"
	"github.com/vidstream/vidstream/services/internal/outbox"
	"github.com/vidstream/vidstream/services/user/internal/domain"
)

// UsersTopic carries this service's events, keyed by user id so that one
// user's events stay in order on one partition (a UserDeleted never
// overtakes its UserCreated).
const UsersTopic = "vidstream.users.v1"

// toOutbox translates a domain event into its wire contract
// (services/api/events/v1).
func toOutbox(e domain.Event) (outbox.Event, error) {
	switch e := e.(type) {
	case domain.UserCreated:
		return outbox.Event{
			Topic: UsersTopic,
			Key:   e.UserID.String(),
			Payload: &eventsv1.UserCreated{
				UserId:      e.UserID.String(),
				DisplayName: e.DisplayName,
				CreatedAt:   timestamppb.New(e.CreatedAt),
			},
		}, nil
	case domain.UserDeleted:
		return outbox.Event{
			Topic: UsersTopic,
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
