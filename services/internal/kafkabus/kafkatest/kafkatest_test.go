package kafkatest_test

import (
	"context"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vidstream/vidstream/services/internal/kafkabus/kafkatest"
)

func TestClusterKeepsDataAcrossRestart(t *testing.T) {
	c := kafkatest.NewCluster(t)
	brokers := c.Brokers()
	topic := kafkatest.Name(t, "restart")
	kafkatest.CreateTopic(t, brokers, topic, 2)
	kafkatest.Publish(t, brokers, kafka.Message{Topic: topic, Key: []byte("k"), Value: []byte("before")})

	c.Stop()
	transport := &kafka.Transport{}
	defer transport.CloseIdleConnections()
	w := &kafka.Writer{Addr: kafka.TCP(brokers...), RequiredAcks: kafka.RequireAll, MaxAttempts: 1, BatchTimeout: time.Millisecond, Transport: transport}
	defer func() { _ = w.Close() }()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := w.WriteMessages(ctx, kafka.Message{Topic: topic, Value: []byte("while down")}); err == nil {
		t.Fatal("write to a stopped broker succeeded")
	}

	c.Start()
	kafkatest.Publish(t, brokers, kafka.Message{Topic: topic, Key: []byte("k"), Value: []byte("after")})
	got := kafkatest.WaitForRecords(t, brokers, topic, 2)
	if len(got) != 2 || string(got[0].Value) != "before" || string(got[1].Value) != "after" {
		t.Fatalf("records after restart = %v, want before, after", values(got))
	}
}

func TestName(t *testing.T) {
	a, b := kafkatest.Name(t, "x"), kafkatest.Name(t, "x")
	if a == b {
		t.Fatalf("Name returned %q twice", a)
	}
}

func values(msgs []kafka.Message) []string {
	var out []string
	for _, m := range msgs {
		out = append(out, string(m.Value))
	}
	return out
}
