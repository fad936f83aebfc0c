// Package kafkaadmin is the topic operator's view of Kafka: describe,
// create, grow, reconfigure and delete one topic, over kafka-go's admin
// requests, each a CLIENT span. It classifies failures so the controller can
// tell "Kafka is down, retry" from "Kafka refused this spec, fix it".
package kafkaadmin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"slices"
	"syscall"
	"time"

	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/vidstream/vidstream/services/internal/telemetry"
)

// ErrTopicNotFound is returned by Describe for a topic Kafka does not have.
var ErrTopicNotFound = errors.New("topic not found")

// Topic is a topic as Kafka has it.
type Topic struct {
	Name              string
	Partitions        int
	ReplicationFactor int
	// Config holds the settings set on the topic itself (not inherited
	// from the broker's defaults).
	Config map[string]string
}

// Client sends admin requests to a Kafka cluster.
type Client struct {
	brokers []string
	timeout time.Duration
	tracer  trace.Tracer
}

// New returns a client for the cluster at brokers; timeout bounds each
// request.
func New(brokers []string, timeout time.Duration, p telemetry.Providers) *Client {
	return &Client{
		brokers: brokers,
		timeout: timeout,
		tracer:  p.Tracer.Tracer("github.com/vidstream/vidstream/services/topic-operator/internal/kafkaadmin"),
	}
}

// kafkaClient returns a kafka-go client on a fresh transport. kafka-go's
// transports answer metadata from a cache refreshed every few seconds; a
// reconcile must see the topic as it is now (just created, just grown),
// and admin traffic is too rare for the cost of a connection to matter.
func (c *Client) kafkaClient() (*kafka.Client, func()) {
	transport := &kafka.Transport{ClientID: "vidstream-topic-operator", DialTimeout: 5 * time.Second}
	return &kafka.Client{Addr: kafka.TCP(c.brokers...), Timeout: c.timeout, Transport: transport}, transport.CloseIdleConnections
}

// span starts a CLIENT span named after the Kafka request; the caller
// ends it with end.
func (c *Client) span(ctx context.Context, op, topic string) (context.Context, trace.Span) {
	return c.tracer.Start(ctx, op+" "+topic, //nolint:spancheck // every caller defers end(span, err)
		trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(
			semconv.MessagingSystemKafka,
			semconv.MessagingOperationName(op),
			semconv.MessagingDestinationName(topic),
		))
}

// end ends span, recording err unless it is an answer rather than a
// failure (a topic that does not exist).
func end(span trace.Span, err error) {
	if err != nil && !errors.Is(err, ErrTopicNotFound) {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// Describe returns the topic named name, or ErrTopicNotFound.
func (c *Client) Describe(ctx context.Context, name string) (t Topic, err error) {
	ctx, span := c.span(ctx, "describe_topic", name)
	defer func() { end(span, err) }()
	client, done := c.kafkaClient()
	defer done()

	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{name}})
	if err != nil {
		return Topic{}, fmt.Errorf("metadata of %s: %w", name, err)
	}
	idx := slices.IndexFunc(md.Topics, func(t kafka.Topic) bool { return t.Name == name })
	if idx < 0 {
		return Topic{}, fmt.Errorf("%s: %w", name, ErrTopicNotFound)
	}
	mt := md.Topics[idx]
	if errors.Is(mt.Error, kafka.UnknownTopicOrPartition) {
		return Topic{}, fmt.Errorf("%s: %w", name, ErrTopicNotFound)
	}
	if mt.Error != nil {
		return Topic{}, fmt.Errorf("metadata of %s: %w", name, mt.Error)
	}
	t = Topic{Name: name, Partitions: len(mt.Partitions)}
	for _, p := range mt.Partitions {
		t.ReplicationFactor = max(t.ReplicationFactor, len(p.Replicas))
	}

	res, err := client.DescribeConfigs(ctx, &kafka.DescribeConfigsRequest{
		Resources: []kafka.DescribeConfigRequestResource{{ResourceType: kafka.ResourceTypeTopic, ResourceName: name}},
	})
	if err != nil {
		return Topic{}, fmt.Errorf("describe configs of %s: %w", name, err)
	}
	t.Config = map[string]string{}
	for _, r := range res.Resources {
		if r.Error != nil {
			if errors.Is(r.Error, kafka.UnknownTopicOrPartition) {
				return Topic{}, fmt.Errorf("%s: %w", name, ErrTopicNotFound)
			}
			return Topic{}, fmt.Errorf("describe configs of %s: %w", name, r.Error)
		}
		for _, e := range r.ConfigEntries {
			// Only what was set on the topic: the rest are broker or
			// static defaults the spec does not own.
			if e.ConfigSource == configSourceDynamicTopic && !e.IsSensitive {
				t.Config[e.ConfigName] = e.ConfigValue
			}
		}
	}
	return t, nil
}

// configSourceDynamicTopic is DYNAMIC_TOPIC_CONFIG in DescribeConfigs
// responses: a setting made on the topic itself.
const configSourceDynamicTopic = 1

// Create creates the topic with its settings.
func (c *Client) Create(ctx context.Context, name string, partitions, replicationFactor int, config map[string]string) (err error) {
	ctx, span := c.span(ctx, "create_topics", name)
	defer func() { end(span, err) }()
	client, done := c.kafkaClient()
	defer done()

	entries := make([]kafka.ConfigEntry, 0, len(config))
	for _, k := range slices.Sorted(maps.Keys(config)) {
		entries = append(entries, kafka.ConfigEntry{ConfigName: k, ConfigValue: config[k]})
	}
	res, err := client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{
		Topic:             name,
		NumPartitions:     partitions,
		ReplicationFactor: replicationFactor,
		ConfigEntries:     entries,
	}}})
	if err != nil {
		return fmt.Errorf("create %s: %w", name, err)
	}
	if err := res.Errors[name]; err != nil {
		return fmt.Errorf("create %s: %w", name, err)
	}
	return nil
}

// GrowPartitions raises the topic's partition count to total.
func (c *Client) GrowPartitions(ctx context.Context, name string, total int) (err error) {
	ctx, span := c.span(ctx, "create_partitions", name)
	defer func() { end(span, err) }()
	client, done := c.kafkaClient()
	defer done()

	res, err := client.CreatePartitions(ctx, &kafka.CreatePartitionsRequest{
		Topics: []kafka.TopicPartitionsConfig{{Name: name, Count: int32(total)}},
	})
	if err != nil {
		return fmt.Errorf("grow %s to %d partitions: %w", name, total, err)
	}
	for _, e := range res.Errors {
		if e != nil {
			return fmt.Errorf("grow %s to %d partitions: %w", name, total, e)
		}
	}
	return nil
}

// AlterConfig sets the settings in set and resets those in reset to the
// broker's defaults, in one request.
func (c *Client) AlterConfig(ctx context.Context, name string, set map[string]string, reset []string) (err error) {
	ctx, span := c.span(ctx, "incremental_alter_configs", name)
	defer func() { end(span, err) }()
	client, done := c.kafkaClient()
	defer done()

	var ops []kafka.IncrementalAlterConfigsRequestConfig
	for _, k := range slices.Sorted(maps.Keys(set)) {
		ops = append(ops, kafka.IncrementalAlterConfigsRequestConfig{Name: k, Value: set[k], ConfigOperation: kafka.ConfigOperationSet})
	}
	for _, k := range reset {
		ops = append(ops, kafka.IncrementalAlterConfigsRequestConfig{Name: k, ConfigOperation: kafka.ConfigOperationDelete})
	}
	res, err := client.IncrementalAlterConfigs(ctx, &kafka.IncrementalAlterConfigsRequest{
		Resources: []kafka.IncrementalAlterConfigsRequestResource{{
			ResourceType: kafka.ResourceTypeTopic, ResourceName: name, Configs: ops,
		}},
	})
	if err != nil {
		return fmt.Errorf("alter config of %s: %w", name, err)
	}
	for _, r := range res.Resources {
		if r.Error != nil {
			return fmt.Errorf("alter config of %s: %w", name, r.Error)
		}
	}
	return nil
}

// Delete deletes the topic; a topic that does not exist is not an error.
func (c *Client) Delete(ctx context.Context, name string) (err error) {
	ctx, span := c.span(ctx, "delete_topics", name)
	defer func() { end(span, err) }()
	client, done := c.kafkaClient()
	defer done()

	res, err := client.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: []string{name}})
	if err != nil {
		return fmt.Errorf("delete %s: %w", name, err)
	}
	if err := res.Errors[name]; err != nil && !errors.Is(err, kafka.UnknownTopicOrPartition) {
		return fmt.Errorf("delete %s: %w", name, err)
	}
	return nil
}

// IsUnavailable reports whether err means Kafka could not be reached or
// could not serve the request right now (a retry may succeed), as opposed
// to Kafka refusing the request.
func IsUnavailable(err error) bool {
	var netErr net.Error
	var kerr kafka.Error
	switch {
	case errors.As(err, &kerr):
		switch kerr {
		// Codes a broker answers with while the cluster, or the client's
		// view of it, is not whole (a broker down, a controller moving).
		case kafka.BrokerNotAvailable, kafka.NotController, kafka.RequestTimedOut, kafka.NetworkException,
			kafka.LeaderNotAvailable, kafka.NotLeaderForPartition:
			return true
		}
		return kerr.Temporary()
	case errors.As(err, &netErr), errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, net.ErrClosed),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return true
	}
	return false
}

// IsInvalid reports whether err is Kafka refusing the spec: an unknown
// setting or value, a bad partition count or replication factor, a policy.
func IsInvalid(err error) bool {
	var kerr kafka.Error
	if !errors.As(err, &kerr) {
		return false
	}
	switch kerr {
	case kafka.InvalidConfiguration, kafka.InvalidPartitionNumber, kafka.InvalidReplicationFactor,
		kafka.InvalidReplicaAssignment, kafka.InvalidTopic, kafka.PolicyViolation, kafka.InvalidRequest,
		kafka.TopicAuthorizationFailed, kafka.ClusterAuthorizationFailed:
		return true
	}
	return false
}
