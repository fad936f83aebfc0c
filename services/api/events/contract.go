// Package events is vidstream's messaging contract in one place: the Kafka
// topics, who publishes to each and with which key, the consumer groups
// that read them, their dead-letter topics, the RabbitMQ work queues with
// their retry and dead-letter queues, and the CloudEvents type of every
// message. The messages themselves are the protobuf types of packages
// events/v1 (services/api/proto/vidstream/events/v1) and jobs/v1
// (services/api/proto/vidstream/jobs/v1).
//
// Producers, consumers, the Helm chart's topic list (a chart test compares
// them) and the tests all take their names from here, so a topic is renamed
// or a consumer added in one file. docs/architecture.md explains the
// contract in prose.
package events

import (
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/vidstream/vidstream/services/api/events/v1"
	jobsv1 "github.com/vidstream/vidstream/services/api/jobs/v1"
)

// The topics. The version in the name is the contract's major version: a
// change old consumers cannot read goes to a new topic (".v2"), while
// additive changes (a new field, a new event type) stay on this one.
const (
	// UsersTopic is published by user, keyed by user id.
	UsersTopic = "vidstream.users.v1"
	// VideosTopic is published by video, keyed by video id.
	VideosTopic = "vidstream.videos.v1"
	// WatchTopic is published by watch-history, keyed by user id.
	WatchTopic = "vidstream.watch.v1"
)

// The consumer groups. Each group reads one topic at its own pace; one
// group per topic keeps, say, a backlog of video renames from delaying the
// purge of a deleted user.
const (
	// ViewCounterGroup is video's: VideoWatched adds a view.
	ViewCounterGroup = "video.view-counter"
	// HistoryUsersGroup is watch-history's: UserDeleted purges the user's history.
	HistoryUsersGroup = "watch-history.users"
	// HistoryVideosGroup is watch-history's: VideoUpdated renames,
	// VideoDeleted removes.
	HistoryVideosGroup = "watch-history.videos"
)

// The work queues (RabbitMQ). A work queue carries jobs, requests for work
// that exactly one worker does, where a topic carries facts that every
// group reads. Jobs are published through the default exchange, so the
// routing key is the queue's name.
const (
	// TranscodeQueue is sent to by video (jobsv1.TranscodeRequested, one
	// per new video) and consumed by transcoder.
	TranscodeQueue = "vidstream.transcode"
)

// DLQSuffix names a topic's dead-letter topic and a work queue's
// dead-letter queue.
const DLQSuffix = ".dlq"

// DLQ returns the dead-letter topic of topic, "<topic>.dlq": where a
// consumer moves a record it cannot process, with the original bytes and
// headers and headers saying why. For a work queue it is the dead-letter
// queue, where a job goes after its last failed attempt.
func DLQ(topic string) string { return topic + DLQSuffix }

// RetrySuffix names a work queue's retry queue.
const RetrySuffix = ".retry"

// Retry returns the retry queue of a work queue, "<queue>.retry": a failed
// job waits there for the retry delay (the queue's message TTL) and is then
// dead-lettered back to queue for its next attempt.
func Retry(queue string) string { return queue + RetrySuffix }

// Type returns the CloudEvents type (the ce_type header) of message m
// published on topic: "<topic>.<message name>", e.g.
// "vidstream.users.v1.UserDeleted". Producers set it and consumers switch on
// it, so both derive it here.
func Type(topic string, m proto.Message) string {
	return topic + "." + string(m.ProtoReflect().Descriptor().Name())
}

// Topic describes one topic of the contract.
type Topic struct {
	Name string
	// Producer is the one service that publishes to the topic.
	Producer string
	// Key is what records are keyed by; events of one key stay in order.
	Key string
	// Events are the message types published on the topic.
	Events []proto.Message
}

// Subscription is one consumer group of one service reading one topic.
type Subscription struct {
	Service string
	Group   string
	Topic   string
}

// Queue describes one work queue of the contract.
type Queue struct {
	Name string
	// Producer is the one service that sends jobs to the queue; its
	// CloudEvents source is "/services/<Producer>".
	Producer string
	// Consumer is the one service whose workers take jobs from it.
	Consumer string
	// Jobs are the message types sent on the queue; their CloudEvents
	// type is Type(Name, job), e.g.
	// "vidstream.transcode.TranscodeRequested".
	Jobs []proto.Message
}

// Queues returns every work queue of the contract.
func Queues() []Queue {
	return []Queue{
		{Name: TranscodeQueue, Producer: "video", Consumer: "transcoder",
			Jobs: []proto.Message{&jobsv1.TranscodeRequested{}}},
	}
}

// Topics returns every topic of the contract.
func Topics() []Topic {
	return []Topic{
		{Name: UsersTopic, Producer: "user", Key: "user_id",
			Events: []proto.Message{&eventsv1.UserCreated{}, &eventsv1.UserDeleted{}}},
		{Name: VideosTopic, Producer: "video", Key: "video_id",
			Events: []proto.Message{&eventsv1.VideoPublished{}, &eventsv1.VideoUpdated{}, &eventsv1.VideoDeleted{}}},
		{Name: WatchTopic, Producer: "watch-history", Key: "user_id",
			Events: []proto.Message{&eventsv1.WatchProgressed{}, &eventsv1.VideoWatched{}}},
	}
}

// Subscriptions returns every consumer group of the contract.
func Subscriptions() []Subscription {
	return []Subscription{
		{Service: "video", Group: ViewCounterGroup, Topic: WatchTopic},
		{Service: "watch-history", Group: HistoryUsersGroup, Topic: UsersTopic},
		{Service: "watch-history", Group: HistoryVideosGroup, Topic: VideosTopic},
	}
}

// Known reports whether ceType is the type of an event of the contract this
// code was built with. A consumer skips (kafkabus.Skip) a type it does not
// know: a newer producer added it, which the contract allows.
func Known(ceType string) bool {
	for _, t := range Topics() {
		for _, m := range t.Events {
			if Type(t.Name, m) == ceType {
				return true
			}
		}
	}
	return false
}
