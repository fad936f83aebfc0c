package systemtest

import (
	"bytes"
	"fmt"
	"strconv"
	"testing"

	"github.com/segmentio/kafka-go"

	"github.com/vidstream/vidstream/services/internal/kafkabus"
	"github.com/vidstream/vidstream/services/internal/kafkabus/kafkatest"
)

// TestPoisonVideoWatchedIsDeadLettered puts an undecodable VideoWatched in
// front of a relayed one on the same partition: the poison lands in the
// dead-letter topic, unchanged and with the error in its headers, and the
// view counter goes on to count the relayed one behind it.
func TestPoisonVideoWatchedIsDeadLettered(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		s := start(t, b, kafkatest.Broker(t), options{})
		owner, ann := s.newUser(t), s.newUser(t)
		v := s.newVideo(t, owner, "Night Train", 100)

		// Where the relay will put ann's events: the poison goes first.
		partition := partitionOf(ann.id, waitTopic(t, s.brokers, watchTopic))
		poisonID := newEventID()
		// 0xff starts a field with wire type 7, which does not exist:
		// no protobuf decoder accepts it.
		garbage := []byte{0xff, 0xff, 0xff, 0xff}
		poison := kafka.Message{
			Topic:   watchTopic,
			Key:     []byte(ann.id),
			Value:   garbage,
			Headers: cloudEventHeaders(poisonID, typeVideoWatched),
		}
		poisonOffset := produce(t, s.brokers, partition, poison)

		s.put(t, ann, v.ID, 95)
		s.waitViewCount(t, v.ID, 1)
		watched := ofType(unique(waitRecords(t, s.brokers, watchTopic, 3, ann.id)), typeVideoWatched)
		var relayed []kafka.Message
		for _, m := range watched {
			if kafkatest.Header(m, kafkabus.HeaderID) != poisonID {
				relayed = append(relayed, m)
			}
		}
		if len(relayed) != 1 {
			t.Fatalf("%d VideoWatched records from the relay, want 1", len(relayed))
		}
		if relayed[0].Partition != partition || relayed[0].Offset <= poisonOffset {
			t.Fatalf("the relayed VideoWatched is at %d/%d, not behind the poison at %d/%d: the test proves nothing",
				relayed[0].Partition, relayed[0].Offset, partition, poisonOffset)
		}

		waitTopic(t, s.brokers, watchDLQ)
		var dead kafka.Message
		eventually(t, func() error {
			for _, m := range keyedBy(kafkatest.Records(t, s.brokers, watchDLQ), ann.id) {
				// On a shared cluster every test's view counter reads the
				// poison, and each dead-letters its own copy.
				if kafkatest.Header(m, kafkabus.HeaderID) == poisonID && kafkatest.Header(m, kafkabus.HeaderDLQConsumerGroup) == s.viewCounterGroup {
					dead = m
					return nil
				}
			}
			return fmt.Errorf("no poison dead-lettered by %s in %s yet", s.viewCounterGroup, watchDLQ)
		})
		if !bytes.Equal(dead.Value, garbage) {
			t.Errorf("dead-lettered value %x, want the original %x", dead.Value, garbage)
		}
		for _, h := range poison.Headers {
			if got := kafkatest.Header(dead, h.Key); got != string(h.Value) {
				t.Errorf("dead-lettered %s = %q, want the original %q", h.Key, got, h.Value)
			}
		}
		for key, want := range map[string]string{
			kafkabus.HeaderDLQOriginalTopic:     watchTopic,
			kafkabus.HeaderDLQOriginalPartition: strconv.Itoa(partition),
			kafkabus.HeaderDLQOriginalOffset:    strconv.FormatInt(poisonOffset, 10),
			kafkabus.HeaderDLQConsumerGroup:     s.viewCounterGroup,
		} {
			if got := kafkatest.Header(dead, key); got != want {
				t.Errorf("dead-lettered %s = %q, want %q", key, got, want)
			}
		}
		if kafkatest.Header(dead, kafkabus.HeaderDLQError) == "" || kafkatest.Header(dead, kafkabus.HeaderDLQFailedAt) == "" {
			t.Errorf("dead-lettered record does not say why or when: %v", dead.Headers)
		}
		t.Logf("dead-lettered with %s=%q, %s=%s, %s=%s", kafkabus.HeaderDLQError, kafkatest.Header(dead, kafkabus.HeaderDLQError),
			kafkabus.HeaderDLQAttempts, kafkatest.Header(dead, kafkabus.HeaderDLQAttempts),
			kafkabus.HeaderDLQPermanent, kafkatest.Header(dead, kafkabus.HeaderDLQPermanent))
		if got := s.viewCount(t, v.ID); got != 1 {
			t.Fatalf("view_count = %d, want 1", got)
		}
	})
}
