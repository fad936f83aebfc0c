package systemtest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/segmentio/kafka-go"

	"github.com/vidstream/vidstream/services/internal/kafkabus"
	"github.com/vidstream/vidstream/services/internal/kafkabus/kafkatest"
)

// kafkaTimeout bounds one request to the broker.
const kafkaTimeout = 10 * time.Second

// newClient returns a Kafka client with a transport of its own (kafka-go's
// shared default transport caches metadata and may not know a topic created
// a moment ago) and a func releasing its connections.
func newClient(brokers []string) (*kafka.Client, func()) {
	transport := &kafka.Transport{}
	return &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: kafkaTimeout, Transport: transport},
		transport.CloseIdleConnections
}

// partitions returns topic's partition ids in ascending order, or an error
// while the topic does not exist (yet).
func partitions(ctx context.Context, brokers []string, topic string) ([]int, error) {
	client, release := newClient(brokers)
	defer release()
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return nil, fmt.Errorf("metadata of %s: %w", topic, err)
	}
	if len(md.Topics) != 1 || md.Topics[0].Error != nil || len(md.Topics[0].Partitions) == 0 {
		return nil, fmt.Errorf("topic %s does not exist yet: %+v", topic, md.Topics)
	}
	var ids []int
	for _, p := range md.Topics[0].Partitions {
		ids = append(ids, p.ID)
	}
	slices.Sort(ids)
	return ids, nil
}

// waitTopic polls until topic exists. The services create their topics in
// the background; kafkatest's readers need them to exist.
func waitTopic(t *testing.T, brokers []string, topic string) []int {
	t.Helper()
	var ids []int
	eventually(t, func() error {
		ctx, cancel := context.WithTimeout(t.Context(), kafkaTimeout)
		defer cancel()
		var err error
		ids, err = partitions(ctx, brokers, topic)
		return err
	})
	return ids
}

// keyedBy returns the records whose key is one of keys. On a real cluster
// the contract's topics hold every test's records; each test looks only at
// those of users it created.
func keyedBy(msgs []kafka.Message, keys ...string) []kafka.Message {
	var out []kafka.Message
	for _, m := range msgs {
		if slices.Contains(keys, string(m.Key)) {
			out = append(out, m)
		}
	}
	return out
}

// ofType returns the records whose ce_type is typ.
func ofType(msgs []kafka.Message, typ string) []kafka.Message {
	var out []kafka.Message
	for _, m := range msgs {
		if kafkatest.Header(m, kafkabus.HeaderType) == typ {
			out = append(out, m)
		}
	}
	return out
}

// unique drops later copies of a record (same ce_id): the relay publishes
// at least once, so a copy is allowed on the topic, and consumers skip it.
func unique(msgs []kafka.Message) []kafka.Message {
	seen := map[string]bool{}
	var out []kafka.Message
	for _, m := range msgs {
		id := kafkatest.Header(m, kafkabus.HeaderID)
		if !seen[id] {
			seen[id] = true
			out = append(out, m)
		}
	}
	return out
}

// waitRecords polls topic until it holds at least n distinct records (by
// ce_id) keyed by one of keys and returns those records, copies included, in
// offset order per partition.
func waitRecords(t *testing.T, brokers []string, topic string, n int, keys ...string) []kafka.Message {
	t.Helper()
	waitTopic(t, brokers, topic)
	var got []kafka.Message
	eventually(t, func() error {
		got = keyedBy(kafkatest.Records(t, brokers, topic), keys...)
		if u := len(unique(got)); u < n {
			return fmt.Errorf("%s holds %d records of keys %v, want %d", topic, u, keys, n)
		}
		return nil
	})
	return got
}

// produce writes one record to an explicit partition and returns its
// offset: the tests that re-deliver or poison need to know where their
// record landed, to wait until the consumer has gone past it.
func produce(t *testing.T, brokers []string, partition int, m kafka.Message) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), kafkaTimeout)
	defer cancel()
	client, release := newClient(brokers)
	defer release()
	res, err := client.Produce(ctx, &kafka.ProduceRequest{
		Topic:        m.Topic,
		Partition:    partition,
		RequiredAcks: kafka.RequireAll,
		Records: kafka.NewRecordReader(kafka.Record{
			Key:     kafka.NewBytes(m.Key),
			Value:   kafka.NewBytes(m.Value),
			Headers: m.Headers,
		}),
	})
	if err == nil {
		err = res.Error
	}
	if err != nil {
		t.Fatalf("produce to %s[%d]: %v", m.Topic, partition, err)
	}
	return res.BaseOffset
}

// partitionOf is the partition kafkabus.Producer (kafka-go's hash balancer)
// writes key to, given topic's partitions.
func partitionOf(key string, parts []int) int {
	return (&kafka.Hash{}).Balance(kafka.Message{Key: []byte(key)}, parts...)
}

// committed returns group's committed offset on topic's partition, -1 if
// none.
func committed(ctx context.Context, brokers []string, group, topic string, partition int) (int64, error) {
	client, release := newClient(brokers)
	defer release()
	res, err := client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{
		GroupID: group,
		Topics:  map[string][]int{topic: {partition}},
	})
	if err == nil {
		err = res.Error
	}
	if err != nil {
		return 0, fmt.Errorf("committed offsets of %s: %w", group, err)
	}
	for _, p := range res.Topics[topic] {
		if p.Partition == partition {
			if p.Error != nil {
				return 0, fmt.Errorf("committed offset of %s on %s[%d]: %w", group, topic, partition, p.Error)
			}
			return p.CommittedOffset, nil
		}
	}
	return -1, nil
}

// waitConsumed polls until group has committed past every record in msgs.
// A consumer commits a record's offset only after it finished with it
// (applied, skipped as a duplicate or dead-lettered), so afterwards the
// record's effect, if any, is visible: the way to assert that something did
// NOT happen without sleeping a guessed duration.
func waitConsumed(t *testing.T, brokers []string, group string, msgs ...kafka.Message) {
	t.Helper()
	last := map[int]int64{}
	topic := ""
	for _, m := range msgs {
		if topic != "" && m.Topic != topic {
			t.Fatalf("waitConsumed: records of %s and %s", topic, m.Topic)
		}
		topic = m.Topic
		last[m.Partition] = max(last[m.Partition], m.Offset)
	}
	eventually(t, func() error {
		ctx, cancel := context.WithTimeout(t.Context(), kafkaTimeout)
		defer cancel()
		for p, off := range last {
			c, err := committed(ctx, brokers, group, topic, p)
			if err != nil {
				return err
			}
			if c <= off {
				return fmt.Errorf("group %s committed offset %d on %s[%d], waiting for > %d", group, c, topic, p, off)
			}
		}
		return nil
	})
}

// endOffsets returns the offset the next record of each of topic's
// partitions will get.
func endOffsets(ctx context.Context, brokers []string, topic string) (map[int]int64, error) {
	parts, err := partitions(ctx, brokers, topic)
	if err != nil {
		return nil, err
	}
	client, release := newClient(brokers)
	defer release()
	var reqs []kafka.OffsetRequest
	for _, p := range parts {
		reqs = append(reqs, kafka.LastOffsetOf(p))
	}
	res, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: reqs}})
	if err != nil {
		return nil, fmt.Errorf("list offsets of %s: %w", topic, err)
	}
	out := map[int]int64{}
	for _, p := range res.Topics[topic] {
		if p.Error != nil {
			return nil, fmt.Errorf("offsets of %s[%d]: %w", topic, p.Partition, p.Error)
		}
		out[p.Partition] = p.LastOffset
	}
	return out, nil
}

// readAsGroup reads topic from its oldest record as a new consumer group of
// its own, the way a new downstream service would, until done says the
// records seen so far (keyed by one of keys) are complete, and then on to
// the end of the topic as it is at that moment, so that records beyond what
// done expected are seen too. It fails t if done is not satisfied in time.
func readAsGroup(t *testing.T, brokers []string, topic string, keys []string, done func([]kafka.Message) error) []kafka.Message {
	t.Helper()
	waitTopic(t, brokers, topic)
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:     brokers,
		GroupID:     kafkatest.Name(t, "systemtest.audit"),
		Topic:       topic,
		StartOffset: kafka.FirstOffset,
		MinBytes:    1,
		MaxBytes:    10 << 20,
		// Close waits for the fetch in flight up to MaxWait.
		MaxWait: 100 * time.Millisecond,
	})
	defer func() { _ = r.Close() }()

	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	var got []kafka.Message
	next := map[int]int64{} // per partition: offset after the last one read
	fetch := func() error {
		m, err := r.FetchMessage(ctx) // no commit: the group is thrown away
		if err != nil {
			return err
		}
		next[m.Partition] = m.Offset + 1
		if slices.Contains(keys, string(m.Key)) {
			got = append(got, m)
		}
		return nil
	}
	lastErr := errors.New("nothing read")
	for lastErr != nil {
		if err := fetch(); err != nil {
			t.Fatalf("read %s as a consumer group: %v; last check: %v", topic, err, lastErr)
		}
		lastErr = done(got)
	}
	ends, err := endOffsets(ctx, brokers, topic)
	if err != nil {
		t.Fatal(err)
	}
	for p, end := range ends {
		for next[p] < end {
			if err := fetch(); err != nil {
				t.Fatalf("read %s to its end (partition %d at %d of %d): %v", topic, p, next[p], end, err)
			}
		}
	}
	return got
}

// cloudEventHeaders are the envelope of a record the tests write themselves,
// as an outbox would write it.
func cloudEventHeaders(id, typ string) []kafka.Header {
	return []kafka.Header{
		{Key: kafkabus.HeaderSpecVersion, Value: []byte(kafkabus.SpecVersion)},
		{Key: kafkabus.HeaderID, Value: []byte(id)},
		{Key: kafkabus.HeaderType, Value: []byte(typ)},
		{Key: kafkabus.HeaderSource, Value: []byte("/services/systemtest")},
		{Key: kafkabus.HeaderTime, Value: []byte(time.Now().UTC().Format(time.RFC3339Nano))},
		{Key: kafkabus.HeaderContentType, Value: []byte(kafkabus.ContentTypeProtobuf)},
	}
}

// newEventID is a fresh ce_id.
func newEventID() string { return uuid.NewString() }
