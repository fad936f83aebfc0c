package events_test

import (
	"slices"
	"testing"

	"github.com/vidstream/vidstream/services/api/events"
	eventsv1 "github.com/vidstream/vidstream/services/api/events/v1"
	jobsv1 "github.com/vidstream/vidstream/services/api/jobs/v1"
)

// The ce_type is part of the wire contract: consumers switch on these exact
// strings, so they are pinned here rather than derived again.
func TestType(t *testing.T) {
	cases := map[string]string{
		events.Type(events.UsersTopic, &eventsv1.UserDeleted{}):          "vidstream.users.v1.UserDeleted",
		events.Type(events.VideosTopic, &eventsv1.VideoPublished{}):      "vidstream.videos.v1.VideoPublished",
		events.Type(events.WatchTopic, &eventsv1.VideoWatched{}):         "vidstream.watch.v1.VideoWatched",
		events.Type(events.TranscodeQueue, &jobsv1.TranscodeRequested{}): "vidstream.transcode.TranscodeRequested",
	}
	for got, want := range cases {
		if got != want {
			t.Errorf("Type = %q, want %q", got, want)
		}
	}
	if got := events.DLQ(events.WatchTopic); got != "vidstream.watch.v1.dlq" {
		t.Errorf("DLQ = %q", got)
	}
	if got := events.DLQ(events.TranscodeQueue); got != "vidstream.transcode.dlq" {
		t.Errorf("DLQ = %q", got)
	}
	if got := events.Retry(events.TranscodeQueue); got != "vidstream.transcode.retry" {
		t.Errorf("Retry = %q", got)
	}
}

// Every subscription reads a topic of the contract, groups are unique, and
// every topic has one producer and at least one event type of its own
// package.
func TestContractIsConsistent(t *testing.T) {
	var topics []string
	for _, tp := range events.Topics() {
		if slices.Contains(topics, tp.Name) {
			t.Errorf("topic %s listed twice", tp.Name)
		}
		topics = append(topics, tp.Name)
		if tp.Producer == "" || tp.Key == "" || len(tp.Events) == 0 {
			t.Errorf("topic %s: producer %q, key %q, %d events", tp.Name, tp.Producer, tp.Key, len(tp.Events))
		}
		for _, m := range tp.Events {
			if pkg := m.ProtoReflect().Descriptor().ParentFile().Package(); pkg != "vidstream.events.v1" {
				t.Errorf("topic %s carries %s of package %s", tp.Name, m.ProtoReflect().Descriptor().FullName(), pkg)
			}
		}
	}
	groups := map[string]bool{}
	for _, s := range events.Subscriptions() {
		if !slices.Contains(topics, s.Topic) {
			t.Errorf("group %s reads %s, which is no topic of the contract", s.Group, s.Topic)
		}
		if groups[s.Group] {
			t.Errorf("group %s listed twice", s.Group)
		}
		groups[s.Group] = true
	}
}

// Every work queue has one producer and one consumer, a name no topic
// uses, and jobs of package vidstream.jobs.v1 only.
func TestQueuesAreConsistent(t *testing.T) {
	names := map[string]bool{}
	for _, tp := range events.Topics() {
		names[tp.Name] = true
	}
	for _, q := range events.Queues() {
		if names[q.Name] {
			t.Errorf("queue %s: name used twice", q.Name)
		}
		names[q.Name] = true
		if q.Producer == "" || q.Consumer == "" || len(q.Jobs) == 0 {
			t.Errorf("queue %s: producer %q, consumer %q, %d jobs", q.Name, q.Producer, q.Consumer, len(q.Jobs))
		}
		for _, m := range q.Jobs {
			if pkg := m.ProtoReflect().Descriptor().ParentFile().Package(); pkg != "vidstream.jobs.v1" {
				t.Errorf("queue %s carries %s of package %s", q.Name, m.ProtoReflect().Descriptor().FullName(), pkg)
			}
		}
	}
}
