package main

import (
	"context"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vidstream/vidstream/services/internal/loopback"
	"github.com/vidstream/vidstream/services/internal/peerauth"
)

// TestRun starts the whole process (config, telemetry, app) from an
// environment, waits until it is ready, and stops it as SIGTERM would.
func TestRun(t *testing.T) {
	httpAddr := loopback.FreeAddr(t)
	_, serviceKey, _, err := peerauth.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"SERVICE_KEY":           serviceKey, // it signs its calls to user
		"HTTP_ADDR":             httpAddr,
		"GRPC_ADDR":             loopback.FreeAddr(t),
		"DATABASE_URL":          "sqlite://" + filepath.Join(t.TempDir(), "video.db"),
		"USER_GRPC_ADDR":        "127.0.0.1:1",        // not needed for public reads
		"KAFKA_BROKERS":         loopback.FreeAddr(t), // unreachable: the service serves without Kafka
		"OTEL_TRACES_EXPORTER":  "none",
		"OTEL_METRICS_EXPORTER": "prometheus",
		"OTEL_LOGS_EXPORTER":    "none",
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil, func(k string) string { return env[k] }, io.Discard) }()

	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := client.Get("http://" + httpAddr + "/readyz")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("service never became ready: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	resp, err := client.Get("http://" + httpAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "# TYPE") {
		t.Fatalf("/metrics: %d %.200s", resp.StatusCode, body)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("run did not return after cancel")
	}
}

func TestRunRejectsBadConfig(t *testing.T) {
	env := map[string]string{"SHUTDOWN_TIMEOUT": "soon"}
	err := run(t.Context(), nil, func(k string) string { return env[k] }, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "SHUTDOWN_TIMEOUT") {
		t.Fatalf("want an error naming SHUTDOWN_TIMEOUT, got %v", err)
	}
}
