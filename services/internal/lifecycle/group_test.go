package lifecycle_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/vidstream/vidstream/services/internal/lifecycle"
)

// events records what happened in which order, across goroutines.
type events struct {
	mu   sync.Mutex
	list []string
	seen chan string
}

func newEvents() *events { return &events{seen: make(chan string, 100)} }

func (e *events) add(ev string) {
	e.mu.Lock()
	e.list = append(e.list, ev)
	e.mu.Unlock()
	e.seen <- ev
}

func (e *events) snapshot() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.list)
}

// waitFor blocks until ev has been recorded.
func (e *events) waitFor(t *testing.T, ev string) {
	t.Helper()
	timeout := time.NewTimer(10 * time.Second)
	defer timeout.Stop()
	for {
		select {
		case got := <-e.seen:
			if got == ev {
				return
			}
		case <-timeout.C:
			t.Fatalf("event %q never happened; got %v", ev, e.snapshot())
		}
	}
}

// assertOrder checks that want appear in this relative order.
func (e *events) assertOrder(t *testing.T, want ...string) {
	t.Helper()
	got := e.snapshot()
	last := -1
	for _, w := range want {
		i := slices.Index(got, w)
		if i < 0 || i < last {
			t.Fatalf("events = %v, want %v in that order", got, want)
		}
		last = i
	}
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := lifecycle.Listen(t.Context(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

func runGroup(ctx context.Context, g *lifecycle.Group) <-chan error {
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	return done
}

func wait(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return")
		return nil
	}
}

func TestRunDrainsInFlightRequestThenStopsWorkersThenHooks(t *testing.T) {
	defer goleak.VerifyNone(t)
	ev := newEvents()
	release := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("/slow", func(w http.ResponseWriter, _ *http.Request) {
		ev.add("request started")
		<-release
		_, _ = io.WriteString(w, "done")
		ev.add("request finished")
	})
	ln := listen(t)

	var g lifecycle.Group
	g.AddHTTP("http", &http.Server{Handler: mux, ReadHeaderTimeout: time.Second}, ln)
	g.AddWorker("relay", func(ctx context.Context) error {
		<-ctx.Done()
		ev.add("worker stopped")
		return ctx.Err()
	})
	g.AddReadiness(lifecycle.ReadinessFunc(func(ready bool) {
		if ready {
			ev.add("ready")
		} else {
			ev.add("not ready")
		}
	}))
	g.OnShutdown(func(context.Context) error { ev.add("telemetry flushed"); return nil })
	g.OnShutdown(func(context.Context) error { ev.add("database closed"); return nil })

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := runGroup(ctx, &g)
	ev.waitFor(t, "ready")

	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	type result struct {
		body string
		err  error
	}
	res := make(chan result, 1)
	go func() {
		resp, err := client.Get("http://" + ln.Addr().String() + "/slow")
		if err != nil {
			res <- result{err: err}
			return
		}
		defer func() { _ = resp.Body.Close() }()
		b, err := io.ReadAll(resp.Body)
		res <- result{string(b), err}
	}()
	ev.waitFor(t, "request started")

	cancel() // SIGTERM
	ev.waitFor(t, "not ready")
	close(release)

	if r := <-res; r.err != nil || r.body != "done" {
		t.Fatalf("in-flight request = %q, %v; want it to complete", r.body, r.err)
	}
	if err := wait(t, done); err != nil {
		t.Fatalf("Run = %v, want nil after a clean stop", err)
	}
	ev.assertOrder(t, "ready", "request started", "not ready", "request finished", "worker stopped", "database closed", "telemetry flushed")

	if resp, err := client.Get("http://" + ln.Addr().String() + "/slow"); err == nil {
		_ = resp.Body.Close()
		t.Error("server still accepts after Run returned")
	}
}

func TestRunFailingWorkerStopsEverythingAndIsReturned(t *testing.T) {
	defer goleak.VerifyNone(t)
	boom := errors.New("broker unreachable")
	ev := newEvents()

	var g lifecycle.Group
	g.AddHTTP("http", &http.Server{Handler: http.NotFoundHandler(), ReadHeaderTimeout: time.Second}, listen(t))
	g.AddGRPC("grpc", grpc.NewServer(), listen(t))
	g.AddWorker("relay", func(context.Context) error { return boom })
	g.AddWorker("consumer", func(ctx context.Context) error {
		<-ctx.Done()
		ev.add("consumer stopped")
		return nil
	})
	var hookErr = errors.New("flush failed")
	g.OnShutdown(func(context.Context) error { ev.add("hook"); return hookErr })

	err := wait(t, runGroup(t.Context(), &g))
	if !errors.Is(err, boom) {
		t.Fatalf("Run = %v, want the worker's error", err)
	}
	if !errors.Is(err, hookErr) {
		t.Errorf("Run = %v, want the hook's error joined", err)
	}
	ev.assertOrder(t, "consumer stopped", "hook")
}

func TestRunServeFailureStopsEverything(t *testing.T) {
	defer goleak.VerifyNone(t)
	broken := listen(t)
	_ = broken.Close() // Serve fails at once

	var g lifecycle.Group
	g.AddHTTP("public", &http.Server{ReadHeaderTimeout: time.Second}, broken)
	stopped := make(chan struct{})
	g.AddWorker("relay", func(ctx context.Context) error {
		<-ctx.Done()
		close(stopped)
		return nil
	})
	err := wait(t, runGroup(t.Context(), &g))
	if err == nil || !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Run = %v, want the serve error", err)
	}
	<-stopped
}

func TestRunBoundsGRPCGracefulStop(t *testing.T) {
	defer goleak.VerifyNone(t)
	srv := grpc.NewServer()
	hs := health.NewServer()
	healthpb.RegisterHealthServer(srv, hs)
	ln := listen(t)

	var g lifecycle.Group
	g.ShutdownTimeout = 50 * time.Millisecond
	g.AddGRPC("grpc", srv, ln)
	g.AddReadiness(lifecycle.GRPCHealth(hs))
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := runGroup(ctx, &g)

	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	// A Watch stream never ends by itself, so GracefulStop alone would
	// wait forever.
	stream, err := healthpb.NewHealthClient(conn).Watch(t.Context(), &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	waitStatus(t, stream, healthpb.HealthCheckResponse_SERVING)

	cancel()
	// Readiness goes first: the watcher hears NOT_SERVING before the cut.
	waitStatus(t, stream, healthpb.HealthCheckResponse_NOT_SERVING)
	if err := wait(t, done); err != nil {
		t.Fatalf("Run = %v; a forced stop after the timeout is not a failure", err)
	}
	if _, err := stream.Recv(); status.Code(err) != codes.Unavailable {
		t.Errorf("stream after stop: %v, want Unavailable", err)
	}
}

func waitStatus(t *testing.T, stream healthpb.Health_WatchClient, want healthpb.HealthCheckResponse_ServingStatus) {
	t.Helper()
	for {
		resp, err := stream.Recv()
		if err != nil {
			t.Fatalf("watch: %v", err)
		}
		if resp.GetStatus() == want {
			return
		}
	}
}

func TestRunReportsWorkerIgnoringCancellation(t *testing.T) {
	unblock := make(chan struct{})
	var g lifecycle.Group
	g.ShutdownTimeout = 20 * time.Millisecond
	exited := make(chan struct{})
	g.AddWorker("stuck", func(context.Context) error {
		defer close(exited)
		<-unblock
		return nil
	})
	ctx, cancel := context.WithCancel(t.Context())
	done := runGroup(ctx, &g)
	cancel()
	if err := wait(t, done); err == nil {
		t.Fatal("Run = nil, want an error about the worker that did not stop")
	}
	close(unblock)
	<-exited
}

func TestListenNamesTheAddress(t *testing.T) {
	ln := listen(t)
	defer func() { _ = ln.Close() }()
	_, err := lifecycle.Listen(t.Context(), ln.Addr().String())
	if err == nil {
		t.Fatal("second Listen on the same address succeeded")
	}
	if want := ln.Addr().String(); !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not name %s", err, want)
	}
}

// TestRunStopsBeforeServersStarted covers a signal arriving at once: stopping
// a server whose Serve has not begun yet is a clean stop, not a failure.
func TestRunStopsBeforeServersStarted(t *testing.T) {
	defer goleak.VerifyNone(t)
	for range 20 {
		var g lifecycle.Group
		g.AddGRPC("grpc", grpc.NewServer(), listen(t))
		g.AddHTTP("http", &http.Server{ReadHeaderTimeout: time.Second}, listen(t))
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if err := g.Run(ctx); err != nil {
			t.Fatalf("Run = %v, want nil", err)
		}
	}
}
