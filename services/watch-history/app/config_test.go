package app_test

import (
	"slices"
	"testing"
	"time"

	"github.com/vidstream/vidstream/services/internal/config"
	"github.com/vidstream/vidstream/services/watch-history/app"
)

func TestConfigFromEnvironment(t *testing.T) {
	var defaults app.Config
	if err := config.Load(t.Context(), func(string) string { return "" }, &defaults); err != nil {
		t.Fatalf("load defaults: %v", err)
	}
	want := app.Config{
		HTTPAddr:        app.DefaultHTTPAddr,
		GRPCAddr:        app.DefaultGRPCAddr,
		DatabaseURL:     app.DefaultDatabaseURL,
		UserGRPCAddr:    app.DefaultUserGRPCAddr,
		VideoGRPCAddr:   app.DefaultVideoGRPCAddr,
		KafkaBrokers:    []string{app.DefaultKafkaBrokers},
		RPCTimeout:      2 * time.Second,
		ShutdownTimeout: 10 * time.Second,
	}
	if !equal(defaults, want) {
		t.Fatalf("defaults = %+v\nwant %+v", defaults, want)
	}

	env := map[string]string{
		"KAFKA_BROKERS":        "kafka-0:9092,kafka-1:9092",
		"KAFKA_TOPICS_MANAGED": "true",
		"VIDEO_GRPC_ADDR":      "dns:///video:9090",
	}
	var cfg app.Config
	if err := config.Load(t.Context(), func(k string) string { return env[k] }, &cfg); err != nil {
		t.Fatalf("load: %v", err)
	}
	if !slices.Equal(cfg.KafkaBrokers, []string{"kafka-0:9092", "kafka-1:9092"}) || !cfg.KafkaTopicsManaged || cfg.VideoGRPCAddr != "dns:///video:9090" {
		t.Fatalf("config = %+v", cfg)
	}
}

func equal(a, b app.Config) bool {
	return a.HTTPAddr == b.HTTPAddr && a.GRPCAddr == b.GRPCAddr && a.DatabaseURL == b.DatabaseURL &&
		a.UserGRPCAddr == b.UserGRPCAddr && a.VideoGRPCAddr == b.VideoGRPCAddr &&
		slices.Equal(a.KafkaBrokers, b.KafkaBrokers) && a.KafkaTopicsManaged == b.KafkaTopicsManaged &&
		a.RPCTimeout == b.RPCTimeout && a.ShutdownTimeout == b.ShutdownTimeout && a.DrainDelay == b.DrainDelay
}
