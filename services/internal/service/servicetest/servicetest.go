// Package servicetest runs services in-process for tests: Run serves one
// until the test ends and checks that it stops cleanly, and Base is the
// configuration every such test starts from.
package servicetest

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/vidstream/vidstream/services/internal/kafkabus"
	"github.com/vidstream/vidstream/services/internal/kafkabus/kafkatest"
	"github.com/vidstream/vidstream/services/internal/service"
)

// StopTimeout bounds how long a service may take to stop once its test
// ended. It is generous: a race-detector build on a busy two-core machine
// is slow, and a shutdown that hangs is what this catches, not one that
// is slow.
const StopTimeout = 30 * time.Second

// Run runs fn (an App's Run) until the test ends, then cancels it and
// checks that it returned without error within StopTimeout. A service
// that does not stop fails the test with every goroutine's stack, which is
// what it takes to find out what it waits for.
func Run(tb testing.TB, name string, fn func(context.Context) error) {
	tb.Helper()
	// Not t.Context(): it is canceled before cleanups run, and the service
	// must outlive the test body's last request.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- fn(ctx) }()
	tb.Cleanup(func() {
		cancel()
		timer := time.NewTimer(StopTimeout)
		defer timer.Stop()
		select {
		case err := <-done:
			if err != nil && !errors.Is(err, context.Canceled) {
				tb.Errorf("%s: Run: %v", name, err)
			}
		case <-timer.C:
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			tb.Errorf("%s did not stop within %v of cancel; goroutines:\n%s", name, StopTimeout, buf)
		}
	})
}

// Base is a service configuration for a test: both servers on loopback
// ports of the kernel's choosing, the given database and brokers, consumer
// groups unique to the test (so tests sharing one real cluster do not
// steal each other's partitions), and fast retries of failing events.
//
// East-west authentication is off: these tests call the services' gRPC
// APIs directly, as no service could. The skeleton's own tests and
// TestEastWestAuth prove it on.
//
// RPCTimeout is long on purpose: a race-detector build on a busy CI
// machine can take longer than the production default to answer, and
// these tests are about behaviour, not latency. ShutdownTimeout is short,
// so that the three bounded shutdown phases (drain, workers, closing) end
// well within StopTimeout and a phase that overruns is reported by the
// service itself, naming what it waited for.
func Base(tb testing.TB, databaseURL string, brokers []string) service.Base {
	tb.Helper()
	return service.Base{
		HTTPAddr:            "127.0.0.1:0",
		GRPCAddr:            "127.0.0.1:0",
		DatabaseURL:         databaseURL,
		ServiceAuth:         service.ServiceAuthOff,
		KafkaBrokers:        brokers,
		RPCTimeout:          30 * time.Second,
		ShutdownTimeout:     5 * time.Second,
		ConsumerGroupSuffix: kafkatest.Name(tb, ""),
		ConsumerBackoff:     kafkabus.Backoff{Initial: 10 * time.Millisecond, Max: 200 * time.Millisecond},
	}
}
