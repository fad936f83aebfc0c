package kafkaadmin_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vidstream/vidstream/services/internal/kafkabus/kafkatest"
	"github.com/vidstream/vidstream/services/internal/loopback"
	"github.com/vidstream/vidstream/services/internal/telemetry"
	"github.com/vidstream/vidstream/services/topic-operator/internal/kafkaadmin"
)

func TestClassifiesErrors(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{}}
	for _, tc := range []struct {
		err                  error
		unavailable, invalid bool
	}{
		{fmt.Errorf("create: %w", refused), true, false},
		{fmt.Errorf("create: %w", syscall.ECONNREFUSED), true, false},
		{fmt.Errorf("create: %w", io.EOF), true, false},
		{fmt.Errorf("create: %w", context.DeadlineExceeded), true, false},
		{fmt.Errorf("delete: %w", kafka.BrokerNotAvailable), true, false},
		{fmt.Errorf("create: %w", kafka.NotController), true, false},
		{fmt.Errorf("create: %w", kafka.LeaderNotAvailable), true, false},
		{fmt.Errorf("alter: %w", kafka.InvalidConfiguration), false, true},
		{fmt.Errorf("create: %w", kafka.InvalidReplicationFactor), false, true},
		{fmt.Errorf("create: %w", kafka.InvalidPartitionNumber), false, true},
		{fmt.Errorf("alter: %w", kafka.InvalidRequest), false, true},
		{fmt.Errorf("create: %w", kafka.TopicAuthorizationFailed), false, true},
		{errors.New("something else"), false, false},
	} {
		if got := kafkaadmin.IsUnavailable(tc.err); got != tc.unavailable {
			t.Errorf("IsUnavailable(%v) = %v, want %v", tc.err, got, tc.unavailable)
		}
		if got := kafkaadmin.IsInvalid(tc.err); got != tc.invalid {
			t.Errorf("IsInvalid(%v) = %v, want %v", tc.err, got, tc.invalid)
		}
	}
}

// TestAgainstABroker drives each request against a real broker (kfake, or
// the real Kafka in CI) and checks what Describe reports after it.
func TestAgainstABroker(t *testing.T) {
	brokers := kafkatest.Broker(t)
	c := kafkaadmin.New(brokers, 5*time.Second, telemetry.Noop())
	ctx := t.Context()
	name := kafkatest.Name(t, "admin")

	if _, err := c.Describe(ctx, name); !errors.Is(err, kafkaadmin.ErrTopicNotFound) {
		t.Fatalf("Describe of a missing topic: %v, want ErrTopicNotFound", err)
	}
	if err := c.Create(ctx, name, 2, 1, map[string]string{"retention.ms": "3600000"}); err != nil {
		t.Fatal(err)
	}
	want := func(partitions int, config map[string]string) {
		t.Helper()
		kafkatest.Eventually(t, func() error {
			got, err := c.Describe(ctx, name)
			if err != nil {
				return err
			}
			if got.Partitions != partitions || got.ReplicationFactor != 1 || fmt.Sprint(got.Config) != fmt.Sprint(config) {
				return fmt.Errorf("topic %+v, want %d partitions, replication factor 1, config %v", got, partitions, config)
			}
			return nil
		})
	}
	want(2, map[string]string{"retention.ms": "3600000"})

	if err := c.GrowPartitions(ctx, name, 3); err != nil {
		t.Fatal(err)
	}
	if err := c.AlterConfig(ctx, name, map[string]string{"cleanup.policy": "compact"}, []string{"retention.ms"}); err != nil {
		t.Fatal(err)
	}
	want(3, map[string]string{"cleanup.policy": "compact"})

	// More replicas than brokers: refused, and classified as such.
	err := c.Create(ctx, kafkatest.Name(t, "admin-rf"), 1, 3, nil)
	if !kafkaadmin.IsInvalid(err) {
		t.Errorf("Create with replication factor 3 on one broker: %v, want an invalid-spec error", err)
	}

	if err := c.Delete(ctx, name); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, kafkatest.Name(t, "never-created")); err != nil {
		t.Errorf("Delete of a missing topic: %v, want nil", err)
	}
	kafkatest.Eventually(t, func() error {
		if _, err := c.Describe(ctx, name); !errors.Is(err, kafkaadmin.ErrTopicNotFound) {
			return fmt.Errorf("after Delete, Describe: %v", err)
		}
		return nil
	})

	// Nothing listening: unavailable, not invalid.
	_, err = kafkaadmin.New([]string{loopback.FreeAddr(t)}, time.Second, telemetry.Noop()).Describe(ctx, name)
	if !kafkaadmin.IsUnavailable(err) || kafkaadmin.IsInvalid(err) {
		t.Errorf("Describe with no broker: %v, want unavailable", err)
	}
}
