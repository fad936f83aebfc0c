package main

import (
	"fmt"
	"io"
	"os"

	"github.com/vidstream/vidstream/services/loadgen/internal/benchtable"
)

// runBenchTable prints the table of `make bench` from raw benchmark output
// (files, or standard input with none).
func runBenchTable(args []string, stdout io.Writer) error {
	fs := newFlagSet("bench-table [FILE...]", `
Reads Go benchmark output (what 'make bench' writes, the format benchstat
reads) and prints each figure of the system benchmarks next to its
baseline from the same run, the ratio and its target. Figures are medians
over every run in the input.`, stdout)
	if err := fs.Parse(args); err != nil {
		return err
	}
	var in []io.Reader
	for _, name := range fs.Args() {
		f, err := os.Open(name) //nolint:gosec // a file the user names
		if err != nil {
			return fmt.Errorf("bench-table: %w", err)
		}
		defer func() { _ = f.Close() }()
		in = append(in, f)
	}
	if len(in) == 0 {
		in = append(in, os.Stdin)
	}
	res, err := benchtable.Parse(io.MultiReader(in...))
	if err != nil {
		return err
	}
	rows := res.Rows()
	if len(rows) == 0 {
		return fmt.Errorf("bench-table: no system benchmark results in the input")
	}
	return benchtable.Write(stdout, rows)
}
