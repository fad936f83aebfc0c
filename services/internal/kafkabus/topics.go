package kafkabus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vidstream/vidstream/services/api/events"
)

// TopicSpec describes a topic for EnsureTopics.
type TopicSpec struct {
	Name string
	// Partitions bounds how many consumers of a group work in parallel;
	// default 1.
	Partitions int
	// ReplicationFactor is 1 by default: EnsureTopics is for development and
	// tests, which run one broker.
	ReplicationFactor int
}

// EnsureTopics creates every topic in topics, and the dead-letter topic of
// each (with the same partition count, so a dead-lettered key stays on one
// partition there too), unless they exist. It returns once every partition
// of them answers on its leader, so a producer can write to them at once.
//
// An existing topic is left as it is, even with another partition count:
// changing partitions re-maps keys and is an operator's decision, not a side
// effect of starting a service. In Kubernetes the topic operator owns topics;
// this is for `make run` and tests.
func EnsureTopics(ctx context.Context, brokers []string, topics ...TopicSpec) error {
	if len(topics) == 0 {
		return nil
	}
	client, done := adminClient(brokers)
	defer done()
	var configs []kafka.TopicConfig
	var names []string
	for _, t := range topics {
		if t.Name == "" {
			return errors.New("ensure topics: empty topic name")
		}
		parts := max(t.Partitions, 1)
		rf := max(t.ReplicationFactor, 1)
		for _, name := range []string{t.Name, events.DLQ(t.Name)} {
			configs = append(configs, kafka.TopicConfig{Topic: name, NumPartitions: parts, ReplicationFactor: rf})
			names = append(names, name)
		}
	}

	res, err := client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: configs})
	if err != nil {
		return fmt.Errorf("ensure topics: create: %w", err)
	}
	var errs []error
	for name, err := range res.Errors {
		if err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
			errs = append(errs, fmt.Errorf("ensure topics: create %s: %w", name, err))
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	return waitUntilWritable(ctx, client, names)
}

// TopicsExist returns nil if every topic in topics and its dead-letter
// topic exists and every partition of them answers on its leader, without
// creating anything: for services whose topics someone else owns.
func TopicsExist(ctx context.Context, brokers []string, topics ...TopicSpec) error {
	client, done := adminClient(brokers)
	defer done()
	var names []string
	for _, t := range topics {
		names = append(names, t.Name, events.DLQ(t.Name))
	}
	if err := partitionsServed(ctx, client, names); err != nil {
		return fmt.Errorf("topics exist: %w", err)
	}
	return nil
}

// adminClient returns a client on a transport of its own, fresh: kafka-go
// transports answer metadata requests from a cache, and a long-lived one
// may not know yet about topics created elsewhere.
func adminClient(brokers []string) (*kafka.Client, func()) {
	transport := &kafka.Transport{ClientID: "vidstream", DialTimeout: 5 * time.Second}
	return &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second, Transport: transport}, transport.CloseIdleConnections
}

// waitUntilWritable polls until every partition of topics has a leader that
// serves it. Topic creation is asynchronous in Kafka: CreateTopics returns
// when the controller accepted the request, metadata then names each
// partition's leader, and the leader itself takes a moment more to serve the
// partition (a produce request meanwhile fails with NOT_LEADER_OR_FOLLOWER).
// Listing each partition's end offset, a request its leader answers, checks
// that last step.
func waitUntilWritable(ctx context.Context, client *kafka.Client, topics []string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		err := partitionsServed(ctx, client, topics)
		if err == nil {
			return nil
		}
		if sleepErr := sleep(ctx, 50*time.Millisecond); sleepErr != nil {
			return fmt.Errorf("ensure topics: wait for partition leaders: %w (last: %w)", sleepErr, err)
		}
	}
}

func partitionsServed(ctx context.Context, client *kafka.Client, topics []string) error {
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: topics})
	if err != nil {
		return err
	}
	offsets := make(map[string][]kafka.OffsetRequest, len(topics))
	for _, t := range md.Topics {
		if t.Error != nil {
			return fmt.Errorf("topic %s: %w", t.Name, t.Error)
		}
		if len(t.Partitions) == 0 {
			return fmt.Errorf("topic %s: no partitions yet", t.Name)
		}
		for _, p := range t.Partitions {
			if p.Error != nil || p.Leader.Host == "" {
				return fmt.Errorf("topic %s partition %d: no leader yet", t.Name, p.ID)
			}
			offsets[t.Name] = append(offsets[t.Name], kafka.LastOffsetOf(p.ID))
		}
	}
	for _, name := range topics {
		if _, ok := offsets[name]; !ok {
			return fmt.Errorf("topic %s: not in metadata yet", name)
		}
	}
	res, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: offsets})
	if err != nil {
		return err
	}
	for name, parts := range res.Topics {
		for _, p := range parts {
			if p.Error != nil {
				return fmt.Errorf("topic %s partition %d: %w", name, p.Partition, p.Error)
			}
		}
	}
	return nil
}
