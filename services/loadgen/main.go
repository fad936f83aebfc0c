// Command loadgen drives traffic through vidstream's public API:
//
//	loadgen demo   every flow of the API once (sign up, log in, publish,
//	               browse, watch, rename, delete, log out), each as one trace,
//	               then each trace fetched back from Jaeger and drawn as a
//	               waterfall in the terminal
//	loadgen load   sustained load, open model (a fixed request rate) or
//	               closed model (N workers), with a live progress line and a
//	               latency summary in text or JSON; what benchmarks use
//	loadgen trace  one trace from Jaeger as a waterfall, or as an SVG picture
//	loadgen bench-table  the table of `make bench`: each benchmark figure
//	               next to its baseline, the ratio and its target
//
// It talks to the services `make run` starts (127.0.0.1:8081-8083) unless
// told otherwise; `loadgen <command> -h` lists each command's flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/vidstream/vidstream/services/internal/lifecycle"
)

func main() { lifecycle.Main("loadgen", run) }

const usage = `Usage: loadgen <command> [flags]

Commands:
  demo    run every API flow once and show each one's trace
  load    generate sustained load and report throughput and latency
  trace   show a trace from Jaeger as a waterfall (or -svg FILE)
  bench-table  the table of 'make bench' from raw benchmark output

Run 'loadgen <command> -h' for the flags of a command.
`

// run is main without process globals, so it can be tested.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) < 2 {
		_, _ = io.WriteString(stdout, usage)
		return errors.New("no command given")
	}
	cmd, rest := args[1], args[2:]
	switch cmd {
	case "demo":
		return runDemo(ctx, rest, getenv, stdout)
	case "load":
		return runLoad(ctx, rest, getenv, stdout)
	case "trace":
		return runTrace(ctx, rest, getenv, stdout)
	case "bench-table":
		return runBenchTable(rest, stdout)
	case "help", "-h", "-help", "--help":
		_, _ = io.WriteString(stdout, usage)
		return nil
	default:
		_, _ = io.WriteString(stdout, usage)
		return fmt.Errorf("unknown command %q", cmd)
	}
}

// endpoints are the addresses every command may need, flags defaulting to
// environment variables defaulting to what `make run` starts.
type endpoints struct {
	user, video, history string
	jaeger               string
	otlp                 string
}

func (e *endpoints) register(fs *flag.FlagSet, getenv func(string) string) {
	env := func(key, def string) string {
		if v := getenv(key); v != "" {
			return v
		}
		return def
	}
	fs.StringVar(&e.user, "user", env("LOADGEN_USER_URL", "http://127.0.0.1:8081"), "user service REST base URL [LOADGEN_USER_URL]")
	fs.StringVar(&e.video, "video", env("LOADGEN_VIDEO_URL", "http://127.0.0.1:8082"), "video service REST base URL [LOADGEN_VIDEO_URL]")
	fs.StringVar(&e.history, "history", env("LOADGEN_HISTORY_URL", "http://127.0.0.1:8083"), "watch-history service REST base URL [LOADGEN_HISTORY_URL]")
	fs.StringVar(&e.jaeger, "jaeger", env("JAEGER_URL", "http://127.0.0.1:16686"), "Jaeger query API and UI base URL [JAEGER_URL]")
	fs.StringVar(&e.otlp, "otlp", env("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318"), "OTLP/HTTP endpoint for loadgen's own spans [OTEL_EXPORTER_OTLP_ENDPOINT]")
}

// newFlagSet returns a flag set that prints its usage to stdout and
// reports errors instead of exiting.
func newFlagSet(name, synopsis string, stdout io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("loadgen "+name, flag.ContinueOnError)
	fs.SetOutput(stdout)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: loadgen %s\n\n%s\n\nFlags:\n", name, strings.TrimSpace(synopsis))
		fs.PrintDefaults()
	}
	return fs
}

// isTerminal reports whether w is a character device, so colours and
// redrawn progress lines are only used where a human watches.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
