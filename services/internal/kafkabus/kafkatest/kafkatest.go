// Package kafkatest gives tests a Kafka broker over real TCP on 127.0.0.1 and
// helpers to inspect what reached it.
//
// By default the broker is kfake (github.com/twmb/franz-go/pkg/kfake), an
// in-process implementation of the Kafka protocol: fast, nothing to install.
// When VIDSTREAM_TEST_KAFKA_BROKERS is set (CI sets it, hack/kafka.sh prints
// it), Broker returns that real cluster instead, which every test of the run
// shares: tests must therefore name their topics and groups with Name.
package kafkatest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/vidstream/vidstream/services/api/events"
	"github.com/vidstream/vidstream/services/internal/kafkabus"
)

// EnvBrokers names the variable holding a real cluster's bootstrap addresses,
// comma-separated ("127.0.0.1:19092").
const EnvBrokers = "VIDSTREAM_TEST_KAFKA_BROKERS"

// waitTimeout bounds every wait in this package. Generous, because CI
// machines are slow; a passing test never waits for it.
const waitTimeout = 30 * time.Second

// Broker returns the bootstrap addresses of a broker for t: the real cluster
// named by VIDSTREAM_TEST_KAFKA_BROKERS if set, else a fresh single-node
// kfake cluster on a random 127.0.0.1 port, closed when t ends.
func Broker(tb testing.TB) []string {
	tb.Helper()
	if env := os.Getenv(EnvBrokers); env != "" {
		return strings.Split(env, ",")
	}
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		tb.Fatalf("kafkatest: start kfake: %v", err)
	}
	tb.Cleanup(c.Close)
	return c.ListenAddrs()
}

// IsReal reports whether Broker returns a real cluster rather than kfake.
func IsReal() bool { return os.Getenv(EnvBrokers) != "" }

// Cluster is a kfake broker that a test can stop and start again, to see how
// code behaves while Kafka is unreachable. It keeps its port and its data
// (topics, records, committed offsets) across a restart, as a real broker
// does, so clients reconnect to the same address and find what they left.
//
// It is always kfake, even when VIDSTREAM_TEST_KAFKA_BROKERS is set: stopping
// a broker that other tests share would break them.
type Cluster struct {
	t    testing.TB
	dir  string
	port int

	mu sync.Mutex
	c  *kfake.Cluster // nil while stopped
}

// NewCluster starts a restartable broker, closed when t ends.
func NewCluster(tb testing.TB) *Cluster {
	tb.Helper()
	c := &Cluster{t: tb, dir: tb.TempDir()}
	c.start(0)
	addr := c.c.ListenAddrs()[0]
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		tb.Fatalf("kafkatest: parse kfake address %q: %v", addr, err)
	}
	c.port, err = strconv.Atoi(port)
	if err != nil {
		tb.Fatalf("kafkatest: parse kfake port %q: %v", port, err)
	}
	tb.Cleanup(c.Stop)
	return c
}

// Brokers returns the cluster's bootstrap addresses; they stay valid across
// Stop and Start.
func (c *Cluster) Brokers() []string {
	return []string{net.JoinHostPort("127.0.0.1", strconv.Itoa(c.port))}
}

// Stop closes the broker: its port refuses connections until Start. It
// persists the cluster's state first. Stopping a stopped cluster is a no-op.
func (c *Cluster) Stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.c != nil {
		c.c.Close()
		c.c = nil
	}
}

// Start starts a stopped broker again on the same port with the same data.
func (c *Cluster) Start() {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.c == nil {
		c.start(c.port)
	}
}

func (c *Cluster) start(port int) {
	c.t.Helper()
	opts := []kfake.Opt{kfake.NumBrokers(1), kfake.DataDir(c.dir), kfake.Ports(port)}
	// The port was just released by Stop; retry briefly in case the kernel
	// has not finished with it.
	deadline := time.Now().Add(5 * time.Second)
	for {
		kc, err := kfake.NewCluster(opts...)
		if err == nil {
			c.c = kc
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("kafkatest: start kfake on port %d: %v", port, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var unsafeName = regexp.MustCompile(`[^a-zA-Z0-9._-]+`)

// Name returns a topic or consumer group name unique to this test and run:
// "<prefix>.<test name>.<random>". Kafka allows [a-zA-Z0-9._-], at most 249
// characters.
func Name(tb testing.TB, prefix string) string {
	tb.Helper()
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		tb.Fatalf("kafkatest: random name: %v", err)
	}
	test := unsafeName.ReplaceAllString(tb.Name(), "_")
	if len(test) > 150 {
		test = test[len(test)-150:]
	}
	return prefix + "." + test + "." + hex.EncodeToString(b[:])
}

// CreateTopic creates topic and its dead-letter topic with the given number
// of partitions, failing tb on error. On a real broker it deletes both when
// the test ends, so that a long-lived development broker does not collect
// thousands of test topics; a kfake broker dies with the test anyway.
func CreateTopic(tb testing.TB, brokers []string, topic string, partitions int) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(tb.Context(), waitTimeout)
	defer cancel()
	if err := kafkabus.EnsureTopics(ctx, brokers, kafkabus.TopicSpec{Name: topic, Partitions: partitions}); err != nil {
		tb.Fatalf("kafkatest: create topic %s: %v", topic, err)
	}
	if IsReal() {
		tb.Cleanup(func() { deleteTopics(tb, brokers, topic, events.DLQ(topic)) })
	}
}

func deleteTopics(tb testing.TB, brokers []string, topics ...string) {
	tb.Helper()
	// Not tb.Context(): it is canceled before cleanups run.
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	client, closeClient := newClient(brokers)
	defer closeClient()
	res, err := client.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: topics})
	if err == nil {
		for _, e := range res.Errors {
			err = errors.Join(err, e)
		}
	}
	if err != nil {
		tb.Errorf("kafkatest: delete topics %v: %v", topics, err)
	}
}

// Records returns every record currently in topic, partition by partition,
// each partition in offset order.
func Records(tb testing.TB, brokers []string, topic string) []kafka.Message {
	tb.Helper()
	ctx, cancel := context.WithTimeout(tb.Context(), waitTimeout)
	defer cancel()
	msgs, err := records(ctx, brokers, topic)
	if err != nil {
		tb.Fatalf("kafkatest: read %s: %v", topic, err)
	}
	return msgs
}

// WaitForRecords polls topic until it holds at least n records and returns
// them all (see Records); it fails t if that takes too long.
func WaitForRecords(tb testing.TB, brokers []string, topic string, n int) []kafka.Message {
	tb.Helper()
	var got []kafka.Message
	Eventually(tb, func() error {
		ctx, cancel := context.WithTimeout(tb.Context(), waitTimeout)
		defer cancel()
		msgs, err := records(ctx, brokers, topic)
		if err != nil {
			return err
		}
		if len(msgs) < n {
			return fmt.Errorf("%s holds %d records, want %d", topic, len(msgs), n)
		}
		got = msgs
		return nil
	})
	return got
}

func records(ctx context.Context, brokers []string, topic string) ([]kafka.Message, error) {
	client, closeClient := newClient(brokers)
	defer closeClient()
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return nil, err
	}
	if len(md.Topics) != 1 || md.Topics[0].Error != nil {
		return nil, fmt.Errorf("no metadata for %s: %+v", topic, md.Topics)
	}
	var reqs []kafka.OffsetRequest
	for _, p := range md.Topics[0].Partitions {
		reqs = append(reqs, kafka.FirstOffsetOf(p.ID), kafka.LastOffsetOf(p.ID))
	}
	offsets, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: reqs}})
	if err != nil {
		return nil, err
	}
	parts := offsets.Topics[topic]
	slices.SortFunc(parts, func(a, b kafka.PartitionOffsets) int { return a.Partition - b.Partition })
	var all []kafka.Message
	for _, p := range parts {
		if p.Error != nil {
			return nil, fmt.Errorf("partition %d offsets: %w", p.Partition, p.Error)
		}
		msgs, err := readPartition(ctx, brokers, topic, p.Partition, p.FirstOffset, p.LastOffset)
		if err != nil {
			return nil, err
		}
		all = append(all, msgs...)
	}
	return all, nil
}

// readPartition reads offsets [first, end) of one partition.
func readPartition(ctx context.Context, brokers []string, topic string, partition int, first, end int64) ([]kafka.Message, error) {
	if end <= first {
		return nil, nil
	}
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:   brokers,
		Topic:     topic,
		Partition: partition,
		MinBytes:  1,
		MaxBytes:  10 << 20,
		MaxWait:   100 * time.Millisecond,
	})
	defer func() { _ = r.Close() }()
	if err := r.SetOffset(first); err != nil {
		return nil, err
	}
	var msgs []kafka.Message
	for {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			return nil, fmt.Errorf("partition %d at offset %d: %w", partition, r.Offset(), err)
		}
		msgs = append(msgs, m)
		if m.Offset >= end-1 {
			return msgs, nil
		}
	}
}

// Publish writes msgs synchronously with a plain kafka-go writer (acks=all,
// hash balancer, like kafkabus.Producer), for tests that need records the
// outbox did not produce: duplicates, poison.
func Publish(tb testing.TB, brokers []string, msgs ...kafka.Message) {
	tb.Helper()
	transport := &kafka.Transport{}
	defer transport.CloseIdleConnections()
	w := &kafka.Writer{
		Addr:         kafka.TCP(brokers...),
		Balancer:     &kafka.Hash{},
		RequiredAcks: kafka.RequireAll,
		BatchTimeout: time.Millisecond,
		Transport:    transport,
	}
	defer func() { _ = w.Close() }()
	ctx, cancel := context.WithTimeout(tb.Context(), waitTimeout)
	defer cancel()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		tb.Fatalf("kafkatest: publish: %v", err)
	}
}

// CommittedOffsets returns the group's committed offset per partition of
// topic (-1 where none is committed).
func CommittedOffsets(tb testing.TB, brokers []string, group, topic string) map[int]int64 {
	tb.Helper()
	ctx, cancel := context.WithTimeout(tb.Context(), waitTimeout)
	defer cancel()
	client, closeClient := newClient(brokers)
	defer closeClient()
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil || len(md.Topics) != 1 {
		tb.Fatalf("kafkatest: metadata for %s: %v", topic, err)
	}
	var parts []int
	for _, p := range md.Topics[0].Partitions {
		parts = append(parts, p.ID)
	}
	res, err := client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: parts}})
	if err == nil {
		err = res.Error
	}
	if err != nil {
		tb.Fatalf("kafkatest: committed offsets of %s: %v", group, err)
	}
	out := make(map[int]int64)
	for _, p := range res.Topics[topic] {
		out[p.Partition] = p.CommittedOffset
	}
	return out
}

// WaitGroupStable waits until group has finished rebalancing with exactly
// members members. Until then a group consumer may not own its partitions
// yet, and a record can even reach two members across the rebalance, which
// is why assertions should wait for this first.
func WaitGroupStable(tb testing.TB, brokers []string, group string, members int) {
	tb.Helper()
	client, closeClient := newClient(brokers)
	defer closeClient()
	Eventually(tb, func() error {
		res, err := client.DescribeGroups(tb.Context(), &kafka.DescribeGroupsRequest{GroupIDs: []string{group}})
		if err != nil {
			return err
		}
		if len(res.Groups) != 1 {
			return fmt.Errorf("group %s not described", group)
		}
		g := res.Groups[0]
		if g.Error != nil {
			return g.Error
		}
		if g.GroupState != "Stable" || len(g.Members) != members {
			return fmt.Errorf("group %s is %s with %d members, want Stable with %d", group, g.GroupState, len(g.Members), members)
		}
		return nil
	})
}

// newClient returns a client with a transport of its own, and a func
// releasing its connections. Not kafka.DefaultTransport: a kafka-go transport
// answers metadata requests from a cache it refreshes every few seconds, so
// one shared across the tests of a process (against one real broker) would
// not yet know the topic a test has just created.
func newClient(brokers []string) (*kafka.Client, func()) {
	transport := &kafka.Transport{}
	return &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second, Transport: transport}, transport.CloseIdleConnections
}

// Eventually polls cond every few milliseconds until it returns nil, and
// fails t with cond's last error if that takes longer than 30 s. It is how
// tests wait for asynchronous effects without sleeping a guessed duration.
func Eventually(tb testing.TB, cond func() error) {
	tb.Helper()
	deadline := time.Now().Add(waitTimeout)
	wait := 5 * time.Millisecond
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) || tb.Context().Err() != nil {
			tb.Fatalf("kafkatest: condition not met within %s: %v", waitTimeout, errors.Join(err, tb.Context().Err()))
		}
		time.Sleep(wait)
		wait = min(wait*2, 200*time.Millisecond)
	}
}
