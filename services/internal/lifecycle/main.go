package lifecycle

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// RunFunc is a command's whole program with its process globals passed in,
// so a test can run it with its own context, arguments and environment.
type RunFunc func(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error

// Main is the body of every command's main: it runs run with a context
// that SIGINT or SIGTERM cancels, and exits with status 1 and the error on
// stderr, prefixed with name, if run fails. flag.ErrHelp (-h) is a clean exit.
//
// After the first signal the signals get their default action back, so a
// second Ctrl-C ends a process whose shutdown is taking too long at once;
// an orchestrator's SIGKILL after its grace period does the same.
func Main(name string, run RunFunc) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop()
	}()
	err := run(ctx, os.Args, os.Getenv, os.Stdout)
	// Not deferred: os.Exit would skip it.
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(1)
	}
}
