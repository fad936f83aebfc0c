package kafkabus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
)

// DLQSuffix is appended to a topic's name to name its dead-letter topic.
const DLQSuffix = ".dlq"

// DLQTopic returns the dead-letter topic of topic: "<topic>.dlq".
func DLQTopic(topic string) string { return topic + DLQSuffix }

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
// partition there too), unless they exist. It returns once all of them have a
// leader for every partition, so a producer can write to them at once.
//
// An existing topic is left as it is, even with another partition count:
// changing partitions re-maps keys and is an operator's decision, not a side
// effect of starting a service. In Kubernetes the topic operator owns topics;
// this is for `make run` and tests.
func EnsureTopics(ctx context.Context, brokers []string, topics ...TopicSpec) error {
	if len(topics) == 0 {
		return nil
	}
	client := &kafka.Client{
		Addr:      kafka.TCP(brokers...),
		Timeout:   10 * time.Second,
		Transport: &kafka.Transport{ClientID: "vidstream", DialTimeout: 5 * time.Second},
	}
	var configs []kafka.TopicConfig
	var names []string
	for _, t := range topics {
		if t.Name == "" {
			return errors.New("ensure topics: empty topic name")
		}
		parts := max(t.Partitions, 1)
		rf := max(t.ReplicationFactor, 1)
		for _, name := range []string{t.Name, DLQTopic(t.Name)} {
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
	return waitForLeaders(ctx, client, names)
}

// waitForLeaders polls metadata until every partition of topics has a
// leader. Topic creation is asynchronous in Kafka: CreateTopics returns when
// the controller accepted the request, and a produce request that arrives
// before the partitions' leaders are elected fails.
func waitForLeaders(ctx context.Context, client *kafka.Client, topics []string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		err := leadersReady(ctx, client, topics)
		if err == nil {
			return nil
		}
		if sleepErr := sleep(ctx, 50*time.Millisecond); sleepErr != nil {
			return fmt.Errorf("ensure topics: wait for partition leaders: %w (last: %w)", sleepErr, err)
		}
	}
}

func leadersReady(ctx context.Context, client *kafka.Client, topics []string) error {
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: topics})
	if err != nil {
		return err
	}
	seen := make(map[string]bool, len(topics))
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
		}
		seen[t.Name] = true
	}
	for _, name := range topics {
		if !seen[name] {
			return fmt.Errorf("topic %s: not in metadata yet", name)
		}
	}
	return nil
}
