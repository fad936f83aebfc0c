package app_test

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/vidstream/vidstream/services/internal/config"
	"github.com/vidstream/vidstream/services/internal/service"
	"github.com/vidstream/vidstream/services/video/app"
)

func TestConfigFromEnvironment(t *testing.T) {
	var defaults app.Config
	if err := config.Load(t.Context(), func(string) string { return "" }, &defaults); err != nil {
		t.Fatalf("load defaults: %v", err)
	}
	// The listen addresses and the database stay empty: the service's
	// Spec fills them (service.New).
	want := app.Config{
		Base: service.Base{
			KafkaBrokers:    []string{"127.0.0.1:9092"},
			RPCTimeout:      2 * time.Second,
			ShutdownTimeout: 10 * time.Second,
			ServiceAuth:     service.ServiceAuthRequired,
		},
		UserGRPCAddr:   "127.0.0.1:9081",
		VideoCacheSize: 10000,
		VideoCacheTTL:  5 * time.Minute,
		// The contract's queue, spelled out: the transcoder reads the
		// same default.
		TranscodeQueue: "vidstream.transcode",
	}
	if !reflect.DeepEqual(defaults, want) {
		t.Fatalf("defaults = %+v\nwant %+v", defaults, want)
	}

	env := map[string]string{
		"KAFKA_BROKERS":        "kafka-0:9092,kafka-1:9092",
		"KAFKA_TOPICS_MANAGED": "true",
		"REDIS_URL":            "redis://redis:6379/0",
		"VIDEO_CACHE_SIZE":     "500",
		"VIDEO_CACHE_TTL":      "30s",
		"RABBITMQ_URL":         "amqp://mq:5672/",
		"TRANSCODE_QUEUE":      "staging.vidstream.transcode",
	}
	var cfg app.Config
	if err := config.Load(t.Context(), func(k string) string { return env[k] }, &cfg); err != nil {
		t.Fatalf("load: %v", err)
	}
	if !slices.Equal(cfg.KafkaBrokers, []string{"kafka-0:9092", "kafka-1:9092"}) || !cfg.KafkaTopicsManaged ||
		cfg.RedisURL != "redis://redis:6379/0" || cfg.VideoCacheSize != 500 || cfg.VideoCacheTTL != 30*time.Second ||
		cfg.RabbitMQURL != "amqp://mq:5672/" || cfg.TranscodeQueue != "staging.vidstream.transcode" {
		t.Fatalf("config = %+v", cfg)
	}
}
