package store

import (
	"fmt"
	"math"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/vidstream/vidstream/services/api/events"
	eventsv1 "github.com/vidstream/vidstream/services/api/events/v1"
	jobsv1 "github.com/vidstream/vidstream/services/api/jobs/v1"
	"github.com/vidstream/vidstream/services/internal/outbox"
	"github.com/vidstream/vidstream/services/video/internal/domain"
)

// toOutbox translates a domain event into its wire contract
// (services/api/events/v1).
func toOutbox(e domain.Event) (outbox.Event, error) {
	switch e := e.(type) {
	case domain.VideoPublished:
		kind, err := wireKind(e.Kind)
		if err != nil {
			return outbox.Event{}, err
		}
		duration, err := wireSeconds(e.DurationSeconds)
		if err != nil {
			return outbox.Event{}, err
		}
		return outbox.Event{
			Topic: events.VideosTopic,
			Key:   e.VideoID.String(),
			Payload: &eventsv1.VideoPublished{
				VideoId:         e.VideoID.String(),
				OwnerId:         e.OwnerID.String(),
				Title:           e.Title,
				Kind:            kind,
				DurationSeconds: duration,
				PublishedAt:     timestamppb.New(e.PublishedAt),
			},
		}, nil
	case domain.VideoUpdated:
		duration, err := wireSeconds(e.DurationSeconds)
		if err != nil {
			return outbox.Event{}, err
		}
		return outbox.Event{
			Topic: events.VideosTopic,
			Key:   e.VideoID.String(),
			Payload: &eventsv1.VideoUpdated{
				VideoId:         e.VideoID.String(),
				Title:           e.Title,
				Description:     e.Description,
				DurationSeconds: duration,
				UpdatedAt:       timestamppb.New(e.UpdatedAt),
			},
		}, nil
	case domain.VideoDeleted:
		return outbox.Event{
			Topic: events.VideosTopic,
			Key:   e.VideoID.String(),
			Payload: &eventsv1.VideoDeleted{
				VideoId:   e.VideoID.String(),
				DeletedAt: timestamppb.New(e.DeletedAt),
			},
		}, nil
	default:
		return outbox.Event{}, fmt.Errorf("store: no wire format for event %T", e)
	}
}

// toJob translates the domain's transcode request into the job contract
// (services/api/jobs/v1) for the work queue queue. It goes into the outbox
// like an event; the outbox's job relay sends it to RabbitMQ.
func toJob(queue string, j domain.TranscodeJob) (outbox.Event, error) {
	duration, err := wireSeconds(j.DurationSeconds)
	if err != nil {
		return outbox.Event{}, err
	}
	return outbox.Event{
		Queue: queue,
		Key:   j.VideoID.String(),
		Payload: &jobsv1.TranscodeRequested{
			VideoId:         j.VideoID.String(),
			DurationSeconds: duration,
			Title:           j.Title,
			RequestedAt:     timestamppb.New(j.RequestedAt),
		},
	}, nil
}

// wireKind maps a kind to the events contract's own enum, which does not
// follow the REST or gRPC APIs' representations.
func wireKind(k domain.Kind) (eventsv1.VideoKind, error) {
	switch k {
	case domain.KindMovie:
		return eventsv1.VideoKind_VIDEO_KIND_MOVIE, nil
	case domain.KindEpisode:
		return eventsv1.VideoKind_VIDEO_KIND_EPISODE, nil
	default:
		return eventsv1.VideoKind_VIDEO_KIND_UNSPECIFIED, fmt.Errorf("store: no wire kind for video kind %q", k)
	}
}

// wireSeconds converts a duration to the contract's int32. The domain
// validates durations to at most 48 h, so the error is for a future change
// that forgets the contract's width, not for any input.
func wireSeconds(n int) (int32, error) {
	if n < 0 || n > math.MaxInt32 {
		return 0, fmt.Errorf("store: duration of %d seconds does not fit the events contract", n)
	}
	return int32(n), nil
}
