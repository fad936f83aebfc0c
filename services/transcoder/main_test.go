package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vidstream/vidstream/services/api/events"
	"github.com/vidstream/vidstream/services/internal/loopback"
	"github.com/vidstream/vidstream/services/internal/peerauth"
	"github.com/vidstream/vidstream/services/internal/workqueue/workqueuetest"
)

// TestRun starts the whole process (config, telemetry, app) from an
// environment against the test broker, waits until it is ready, and stops
// it as SIGTERM would.
func TestRun(t *testing.T) {
	url := workqueuetest.URL(t)
	queue := workqueuetest.Topology(t, url, events.TranscodeQueue, time.Second).Queue
	httpAddr := loopback.FreeAddr(t)
	_, serviceKey, _, err := peerauth.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"SERVICE_KEY":           serviceKey, // it signs its calls to video
		"HTTP_ADDR":             httpAddr,
		"RABBITMQ_URL":          url,
		"TRANSCODE_QUEUE":       queue,
		"TRANSCODE_RETRY_DELAY": "1s",
		"VIDEO_GRPC_ADDR":       "127.0.0.1:1", // no job arrives, so never called
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
	resp, err := client.Get("http://" + httpAddr + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "vidstream transcoder service") {
		t.Fatalf("/openapi.json: %d %.200s", resp.StatusCode, body)
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

// A transcoder without a queue, or with a simulation it cannot run, says
// which variable is wrong instead of starting.
func TestRunRejectsBadConfig(t *testing.T) {
	for name, tc := range map[string]struct {
		env  map[string]string
		want string
	}{
		"no broker":         {map[string]string{}, "RABBITMQ_URL"},
		"failure rate":      {map[string]string{"RABBITMQ_URL": "amqp://127.0.0.1:1/", "TRANSCODE_FAILURE_RATE": "1.5"}, "TRANSCODE_"},
		"no attempts":       {map[string]string{"RABBITMQ_URL": "amqp://127.0.0.1:1/", "TRANSCODE_MAX_ATTEMPTS": "-1"}, "TRANSCODE_MAX_ATTEMPTS"},
		"not a duration":    {map[string]string{"RABBITMQ_URL": "amqp://127.0.0.1:1/", "TRANSCODE_DURATION": "long"}, "TRANSCODE_DURATION"},
		"negative duration": {map[string]string{"RABBITMQ_URL": "amqp://127.0.0.1:1/", "TRANSCODE_DURATION": "-1s"}, "TRANSCODE_"},
	} {
		t.Run(name, func(t *testing.T) {
			tc.env["OTEL_TRACES_EXPORTER"], tc.env["OTEL_METRICS_EXPORTER"], tc.env["OTEL_LOGS_EXPORTER"] = "none", "none", "none"
			err := run(t.Context(), nil, func(k string) string { return tc.env[k] }, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want an error naming %s, got %v", tc.want, err)
			}
		})
	}
}
