package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// console is devstack's terminal: every process's log lines, prefixed with
// the process name, and devstack's own messages, one whole line at a time
// so the streams never interleave inside a line.
type console struct {
	mu     sync.Mutex
	w      io.Writer
	color  bool
	raw    bool
	width  int
	colors map[string]string
}

// ANSI colours of the prefixes, one per process, picked to be readable on
// dark and light backgrounds alike.
var prefixColors = map[string]string{
	"devstack":      "\x1b[1m",
	"kafka":         "\x1b[34m",
	"jaeger":        "\x1b[33m",
	"user":          "\x1b[36m",
	"video":         "\x1b[35m",
	"watch-history": "\x1b[32m",
	"build":         "\x1b[2m",
}

const colorReset = "\x1b[0m"

func newConsole(w io.Writer, colorMode string, raw bool) *console {
	color := colorMode == "always" || (colorMode == "auto" && isTerminal(w))
	width := 0
	for name := range prefixColors {
		width = max(width, len(name))
	}
	return &console{w: w, color: color, raw: raw, width: width, colors: prefixColors}
}

// isTerminal reports whether w is a character device, i.e. a terminal and
// not a pipe or a file (CI logs, `make run | tee`).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// logLine prints one line of a process's output.
func (c *console) logLine(name, line string) {
	if !c.raw {
		line = condense(line, c.color)
	}
	c.println(name, line)
}

// printf prints a message of devstack's own.
func (c *console) printf(format string, args ...any) {
	for line := range strings.SplitSeq(strings.TrimRight(fmt.Sprintf(format, args...), "\n"), "\n") {
		c.println("devstack", line)
	}
}

// block prints text as it is, without prefixes: the table of URLs.
func (c *console) block(text string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, _ = io.WriteString(c.w, text)
}

func (c *console) println(name, line string) {
	prefix := fmt.Sprintf("%-*s │ ", c.width, name)
	if c.color {
		prefix = c.colors[name] + prefix + colorReset
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	_, _ = io.WriteString(c.w, prefix+line+"\n")
}

// condense rewrites a JSON log line of the services (slog's JSON handler)
// as "15:04:05.000 INFO  message key=value ...": the same information, in
// the order it was logged, readable at a glance. Lines that are not such
// JSON objects are returned unchanged. The service attribute is dropped,
// since the prefix already says it.
func condense(line string, color bool) string {
	trimmed := strings.TrimSpace(line)
	if !strings.HasPrefix(trimmed, "{") || !strings.HasSuffix(trimmed, "}") {
		return line
	}
	fields, err := orderedFields([]byte(trimmed))
	if err != nil {
		return line
	}
	var (
		ts, level, msg string
		rest           []string
	)
	for _, f := range fields {
		switch f.key {
		case "time":
			ts = shortTime(unquote(f.value))
		case "level":
			level = unquote(f.value)
		case "msg":
			msg = unquote(f.value)
		case "service":
		default:
			rest = append(rest, f.key+"="+logValue(f.value))
		}
	}
	if level == "" && msg == "" {
		return line
	}
	lvl := fmt.Sprintf("%-5s", level)
	if color {
		switch level {
		case "WARN":
			lvl = "\x1b[33m" + lvl + colorReset
		case "ERROR":
			lvl = "\x1b[31m" + lvl + colorReset
		case "DEBUG":
			lvl = "\x1b[2m" + lvl + colorReset
		}
	}
	out := strings.TrimSpace(ts + " " + lvl + " " + msg)
	if len(rest) > 0 {
		out += " " + strings.Join(rest, " ")
	}
	return out
}

type field struct {
	key   string
	value json.RawMessage
}

// orderedFields decodes a JSON object's members in their order; a map would
// lose it, and slog writes the most useful attributes first.
func orderedFields(b []byte) ([]field, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, fmt.Errorf("not an object")
	}
	var out []field
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, ok := t.(string)
		if !ok {
			return nil, fmt.Errorf("key is not a string")
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		out = append(out, field{key: key, value: v})
	}
	return out, nil
}

func unquote(v json.RawMessage) string {
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return string(v)
	}
	return s
}

// logValue prints a string bare when that is unambiguous, quoted otherwise;
// numbers, booleans and nested objects as JSON.
func logValue(v json.RawMessage) string {
	if len(v) == 0 || v[0] != '"' {
		return string(v)
	}
	s := unquote(v)
	if s == "" || strings.ContainsAny(s, " \t\n\"=") {
		return strconv.Quote(s)
	}
	return s
}

func shortTime(s string) string {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return s
	}
	return t.Local().Format("15:04:05.000")
}
