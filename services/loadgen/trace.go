package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/vidstream/vidstream/services/internal/jaegerquery"
	"github.com/vidstream/vidstream/services/loadgen/internal/waterfall"
)

func runTrace(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	var ep endpoints
	fs := newFlagSet("trace [flags] <trace-id>", `
Fetches a trace from Jaeger's query API and draws it as a waterfall: one row
per span, indented under its parent, with its service, kind, transport,
start offset, duration and a bar on the trace's time axis. With -file, reads
a saved answer of Jaeger's API instead (curl .../api/v3/traces/<id>), and
the trace id may be left out.`, stdout)
	ep.register(fs, getenv)
	svgPath := fs.String("svg", "", "write the trace as an SVG picture to this file instead")
	title := fs.String("title", "", "title of the waterfall (default: the root span's name)")
	wait := fs.Duration("wait", 0, "keep asking Jaeger this long while the trace is not there yet")
	width := fs.Int("width", 32, "width of the timeline column, in characters")
	file := fs.String("file", "", "read the trace from this saved /api/v3/traces answer instead of asking Jaeger")
	if err := parseInterspersed(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 1 || (fs.NArg() == 0 && *file == "") {
		fs.Usage()
		return errors.New("trace: want one trace id")
	}
	id := strings.ToLower(strings.TrimSpace(fs.Arg(0)))
	jc := &jaegerquery.Client{BaseURL: ep.jaeger}

	var (
		t   *jaegerquery.Trace
		err error
	)
	if *file != "" {
		t, err = readTrace(*file, id)
	} else {
		t, err = fetchTrace(ctx, jc, id, *wait)
	}
	if err != nil {
		return err
	}
	if *svgPath != "" {
		f, err := os.Create(*svgPath)
		if err != nil {
			return fmt.Errorf("trace: %w", err)
		}
		if err := waterfall.SVG(f, t, *title); err != nil {
			_ = f.Close()
			return fmt.Errorf("trace: %w", err)
		}
		if err := f.Close(); err != nil {
			return fmt.Errorf("trace: %w", err)
		}
		_, err = fmt.Fprintf(stdout, "wrote %s (%d spans)\n", *svgPath, len(t.Spans))
		return err
	}
	return waterfall.Text(stdout, t, waterfall.Options{
		Title:    *title,
		URL:      jc.TraceURL(t.ID),
		BarWidth: *width,
		Color:    isTerminal(stdout) && getenv("NO_COLOR") == "",
	})
}

// readTrace reads trace id (or the only trace, when id is empty) from a
// saved answer of Jaeger's API.
func readTrace(path, id string) (*jaegerquery.Trace, error) {
	f, err := os.Open(path) //nolint:gosec // G304: the user names the file to draw
	if err != nil {
		return nil, fmt.Errorf("trace: %w", err)
	}
	defer f.Close()
	ts, err := jaegerquery.ParseTraces(f)
	if err != nil {
		return nil, fmt.Errorf("trace: %s: %w", path, err)
	}
	for _, t := range ts {
		if t.ID == id || (id == "" && len(ts) == 1) {
			return t, nil
		}
	}
	return nil, fmt.Errorf("trace: %s holds %d traces, none of them %q", path, len(ts), id)
}

// fetchTrace gets a trace, asking again until wait has passed while Jaeger
// does not have it yet (spans reach it a moment after they end).
func fetchTrace(ctx context.Context, jc *jaegerquery.Client, id string, wait time.Duration) (*jaegerquery.Trace, error) {
	deadline := time.Now().Add(wait)
	for {
		t, err := jc.Trace(ctx, id)
		if err == nil {
			return t, nil
		}
		if !errors.Is(err, jaegerquery.ErrNotFound) || time.Now().After(deadline) {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// parseInterspersed parses flags that may follow the positional arguments
// too (`loadgen trace <id> -svg out.svg`), which the flag package alone
// stops at.
func parseInterspersed(fs *flag.FlagSet, args []string) error {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
	return fs.Parse(append([]string{"--"}, positional...))
}
