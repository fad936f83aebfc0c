package events_test

import (
	"slices"
	"testing"

	"github.com/vidstream/vidstream/services/api/events"
	eventsv1 "github.com/vidstream/vidstream/services/api/events/v1"
)

// The ce_type is part of the wire contract: consumers switch on these exact
// strings, so they are pinned here rather than derived again.
func TestType(t *testing.T) {
	cases := map[string]string{
		events.Type(events.UsersTopic, &eventsv1.UserDeleted{}):     "vidstream.users.v1.UserDeleted",
		events.Type(events.VideosTopic, &eventsv1.VideoPublished{}): "vidstream.videos.v1.VideoPublished",
		events.Type(events.WatchTopic, &eventsv1.VideoWatched{}):    "vidstream.watch.v1.VideoWatched",
	}
	for got, want := range cases {
		if got != want {
			t.Errorf("Type = %q, want %q", got, want)
		}
	}
	if got := events.DLQ(events.WatchTopic); got != "vidstream.watch.v1.dlq" {
		t.Errorf("DLQ = %q", got)
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
