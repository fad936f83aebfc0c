package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vidstream/vidstream/services/internal/loopback"
)

// TestRun starts the real binary's wiring (config from getenv, telemetry,
// app) on free ports, checks it answers, and that canceling the context
// (what SIGTERM does) shuts it down cleanly.
func TestRun(t *testing.T) {
	// Nothing listens at KAFKA_BROKERS: the service must start and serve
	// without Kafka, and must not publish into a broker a developer runs on
	// the default port.
	env := map[string]string{
		"HTTP_ADDR":             "127.0.0.1:0",
		"GRPC_ADDR":             "127.0.0.1:0",
		"DATABASE_URL":          "sqlite://" + filepath.Join(t.TempDir(), "user.db"),
		"KAFKA_BROKERS":         loopback.FreeAddr(t),
		"OTEL_TRACES_EXPORTER":  "none",
		"OTEL_METRICS_EXPORTER": "none",
		"ARGON2_MEMORY_KIB":     "8",
		"ARGON2_ITERATIONS":     "1",
	}
	getenv := func(k string) string { return env[k] }
	// Exporter choice is also read from the process environment by the SDK.
	t.Setenv("OTEL_TRACES_EXPORTER", "none")
	t.Setenv("OTEL_METRICS_EXPORTER", "none")

	logs, logW := io.Pipe()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		err := run(ctx, []string{"user"}, getenv, logW)
		_ = logW.CloseWithError(io.EOF)
		done <- err
	}()

	// The bound address is only known from the "serving" log line.
	httpAddr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(logs)
		for sc.Scan() {
			var line struct {
				Msg    string `json:"msg"`
				Server string `json:"server"`
				Addr   string `json:"addr"`
			}
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "serving" && strings.Contains(line.Server, "http") {
				httpAddr <- line.Addr
			}
		}
		_, _ = io.Copy(io.Discard, logs)
	}()

	var addr string
	select {
	case addr = <-httpAddr:
	case err := <-done:
		t.Fatalf("run returned early: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("no serving log line within 30s")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/healthz", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET /healthz: %v", err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /healthz = %d", resp.StatusCode)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run after cancel: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("run did not return after cancel")
	}
}

func TestRunRejectsBadConfig(t *testing.T) {
	getenv := func(k string) string {
		if k == "SESSION_TTL" {
			return "forever"
		}
		return ""
	}
	err := run(t.Context(), nil, getenv, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "SESSION_TTL") {
		t.Errorf("run with SESSION_TTL=forever: %v, want an error naming the variable", err)
	}
}
