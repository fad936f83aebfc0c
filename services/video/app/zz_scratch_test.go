package app_test

import (
	"context"
	"testing"
	"time"

	"github.com/vidstream/vidstream/services/internal/kafkabus/kafkatest"
	"github.com/vidstream/vidstream/services/internal/telemetry"
	"github.com/vidstream/vidstream/services/video/app"
)

func TestScratchSharedGroupShutdown(t *testing.T) {
	brokers := kafkatest.Broker(t)
	ua := startUser(t)
	cfgA := videoConfig(t, ua.GRPCAddr(), sqliteBackend(t))
	cfgA.KafkaBrokers = brokers
	cfgA.ViewCounterGroup = "scratch-shared"
	startVideoWith(t, cfgA, telemetry.Noop())
	for range 2 {
		c := videoConfig(t, ua.GRPCAddr(), sqliteBackend(t))
		c.KafkaBrokers = brokers
		c.ViewCounterGroup = "scratch-shared"
		startVideoWith(t, c, telemetry.Noop())
	}

	cfgB := videoConfig(t, ua.GRPCAddr(), sqliteBackend(t))
	cfgB.KafkaBrokers = brokers
	cfgB.ViewCounterGroup = "scratch-shared"
	b, err := app.New(t.Context(), cfgB, telemetry.Noop())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	time.Sleep(300 * time.Millisecond) // scratch only: let B start joining
	start := time.Now()
	cancel()
	err = <-done
	t.Logf("B stopped after %s: %v", time.Since(start), err)
}
