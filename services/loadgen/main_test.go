package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const traceFile = "../internal/jaegerquery/testdata/watch-to-the-end.json"

func TestTraceFromAFile(t *testing.T) {
	noEnv := func(string) string { return "" }
	var out bytes.Buffer
	if err := run(t.Context(), []string{"loadgen", "trace", "-file", traceFile}, noEnv, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"26 spans", "process vidstream.watch.v1", "consumer  kafka"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}

	// Flags after the trace id work too.
	svg := filepath.Join(t.TempDir(), "t.svg")
	out.Reset()
	if err := run(t.Context(), []string{"loadgen", "trace", "9da933a29d8dfeadc8dc4488838e51af", "-file", traceFile, "-svg", svg}, noEnv, &out); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(svg); err != nil || !bytes.HasPrefix(b, []byte("<svg ")) {
		t.Fatalf("svg: %v", err)
	}
	if err := run(t.Context(), []string{"loadgen", "trace", "-file", traceFile, strings.Repeat("0", 32)}, noEnv, &out); err == nil {
		t.Error("a trace id the file does not hold was accepted")
	}
}

func TestUsage(t *testing.T) {
	noEnv := func(string) string { return "" }
	var out bytes.Buffer
	if err := run(t.Context(), []string{"loadgen", "help"}, noEnv, &out); err != nil || !strings.Contains(out.String(), "demo") {
		t.Errorf("help: %v\n%s", err, out.String())
	}
	if err := run(t.Context(), []string{"loadgen"}, noEnv, &out); err == nil {
		t.Error("no command accepted")
	}
	if err := run(t.Context(), []string{"loadgen", "fly"}, noEnv, &out); err == nil {
		t.Error("unknown command accepted")
	}
	out.Reset()
	if err := run(t.Context(), []string{"loadgen", "load", "-h"}, noEnv, &out); err == nil || !strings.Contains(out.String(), "coordinated omission") {
		t.Errorf("load -h: %v\n%s", err, out.String())
	}
}
