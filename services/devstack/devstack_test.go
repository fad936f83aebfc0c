package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vidstream/vidstream/services/internal/kafkabus"
	"github.com/vidstream/vidstream/services/internal/loopback"
)

// envHelper turns the test binary into a helper process: the child that
// the process tests start, stop and kill (the os/exec tests' technique).
const envHelper = "DEVSTACK_TEST_HELPER"

func TestMain(m *testing.M) {
	if mode := os.Getenv(envHelper); mode != "" {
		helper(mode)
		return
	}
	os.Exit(m.Run())
}

// helpers are the behaviours a helper process can have; each blocks until
// it is signalled or ends on its own.
var helpers = map[string]func(){
	// Exits 0 on SIGTERM, as the services do.
	"term-ok": func() {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
		defer stop()
		fmt.Println("ready")
		<-ctx.Done()
		fmt.Println("graceful exit")
	},
	"ignore-term": func() {
		signal.Ignore(syscall.SIGTERM)
		fmt.Println("ready")
		select {}
	},
	"crash": func() {
		fmt.Fprintln(os.Stderr, "boom: cannot open database")
		os.Exit(3)
	},
	// Starts a grandchild in the same process group, as a shell script
	// wrapper or a forking server would.
	"spawn-grandchild": func() {
		cmd := helperCmd("term-ok")
		if err := cmd.Start(); err != nil {
			panic(err)
		}
		fmt.Printf("grandchild %d\n", cmd.Process.Pid)
		select {}
	},
	// A miniature devstack: starts a child the way devstack does, then
	// waits to be killed.
	"parent": func() {
		sp := newSpawner()
		c := newConsole(os.Stdout, "never", true)
		spec := procSpec{name: "child", path: os.Args[0], env: append(os.Environ(), envHelper+"=record-term")}
		p, err := startProc(sp, spec, c, os.Getenv("DEVSTACK_TEST_LOGS"))
		if err != nil {
			panic(err)
		}
		fmt.Printf("childpid %d\n", p.pid())
		select {}
	},
	// Writes a marker when SIGTERM arrives: proof of a graceful stop.
	"record-term": func() {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
		defer stop()
		fmt.Println("ready")
		<-ctx.Done()
		_ = os.WriteFile(os.Getenv("DEVSTACK_TEST_MARKER"), []byte("terminated"), 0o600)
	},
}

func helper(mode string) {
	fn, ok := helpers[mode]
	if !ok {
		panic("unknown helper mode " + mode)
	}
	fn()
}

func helperCmd(mode string) *exec.Cmd {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), envHelper+"="+mode)
	return cmd
}

// startHelper starts the test binary in a helper mode as devstack starts
// its children, and stops it when the test ends.
func startHelper(t *testing.T, mode string, env ...string) *proc {
	t.Helper()
	sp := newSpawner()
	p, err := startProc(sp, procSpec{
		name: "helper",
		path: os.Args[0],
		env:  append(append(os.Environ(), envHelper+"="+mode), env...),
	}, newConsole(io.Discard, "never", true), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = p.stop(time.Second)
		sp.close()
	})
	return p
}

// waitForLine polls p's output for a line starting with prefix.
func waitForLine(t *testing.T, p *proc, prefix string) string {
	t.Helper()
	return waitForMatch(t, p, prefix, strings.HasPrefix)
}

// waitForMatch polls p's output for a line that match accepts.
func waitForMatch(t *testing.T, p *proc, want string, match func(line, want string) bool) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, l := range p.tail.lines() {
			if match(l, want) {
				return l
			}
		}
		if p.exited() || time.Now().After(deadline) {
			t.Fatalf("no line %q from the helper (exited: %t); output: %q", want, p.exited(), p.tail.lines())
		}
		time.Sleep(10 * time.Millisecond) // polling a child's output, which has no other signal
	}
}

func TestStopTerminatesGracefully(t *testing.T) {
	p := startHelper(t, "term-ok")
	waitForLine(t, p, "ready")
	if err := p.stop(10 * time.Second); err != nil {
		t.Fatalf("stop: %v", err)
	}
	waitForLine(t, p, "graceful exit")
}

func TestStopKillsAProcessThatIgnoresSIGTERM(t *testing.T) {
	p := startHelper(t, "ignore-term")
	waitForLine(t, p, "ready")
	err := p.stop(100 * time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "was killed") {
		t.Fatalf("stop = %v, want an error saying it was killed", err)
	}
	if !p.exited() {
		t.Fatal("process still running after stop returned")
	}
}

func TestWaitReadyReportsAnEarlyExit(t *testing.T) {
	p := startHelper(t, "crash")
	err := waitReady(t.Context(), "helper", p, time.Minute, func(context.Context) error { return errors.New("not yet") })
	if !errors.Is(err, errExited) {
		t.Fatalf("waitReady = %v, want errExited", err)
	}
	report := p.crashReport()
	for _, want := range []string{"exit status 3", "boom: cannot open database", p.logPath} {
		if !strings.Contains(report, want) {
			t.Errorf("crash report lacks %q:\n%s", want, report)
		}
	}
}

func TestWaitReadyNamesTheLastFailureOnTimeout(t *testing.T) {
	err := waitReady(t.Context(), "thing", nil, 50*time.Millisecond, func(context.Context) error {
		return errors.New("connection refused")
	})
	if err == nil || !strings.Contains(err.Error(), "thing not ready after 50ms: connection refused") {
		t.Fatalf("waitReady = %v", err)
	}
}

func TestWaitReadySucceedsOnceTheProbeDoes(t *testing.T) {
	calls := 0
	err := waitReady(t.Context(), "thing", nil, time.Minute, func(context.Context) error {
		calls++
		if calls < 3 {
			return errors.New("not yet")
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Fatalf("waitReady = %v after %d calls, want nil after 3", err, calls)
	}
}

func TestLineWriter(t *testing.T) {
	var got []string
	w := newLineWriter(func(l string) { got = append(got, l) })
	for _, chunk := range []string{"first li", "ne\r\nsecond\nthi", "rd\n", "no newline"} {
		if _, err := io.WriteString(w, chunk); err != nil {
			t.Fatal(err)
		}
	}
	w.flush()
	want := []string{"first line", "second", "third", "no newline"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("lines = %q, want %q", got, want)
	}

	got = nil
	if _, err := w.Write(bytes.Repeat([]byte("x"), maxLine+10)); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || len(got[0]) != maxLine+10 {
		t.Fatalf("an over-long line must be emitted at once, got %d pieces", len(got))
	}
}

func TestCondense(t *testing.T) {
	ts := "2026-03-01T10:42:01.123456Z"
	parsed, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		t.Fatal(err)
	}
	clock := parsed.Local().Format("15:04:05.000")
	tests := []struct {
		name, in, want string
	}{
		{
			name: "slog JSON, attributes in order, service dropped",
			in:   `{"time":"` + ts + `","level":"INFO","msg":"http request","service":"user","method":"GET","status":200,"path":"/v1/users/me","ok":true}`,
			want: clock + " INFO  http request method=GET status=200 path=/v1/users/me ok=true",
		},
		{
			name: "values that need quotes",
			in:   `{"level":"WARN","msg":"export failed","err":"dial tcp: refused","empty":"","nested":{"a":1}}`,
			want: `WARN  export failed err="dial tcp: refused" empty="" nested={"a":1}`,
		},
		{name: "not JSON", in: "2026-03-01T10:42:01Z\tinfo\tjaeger started", want: "2026-03-01T10:42:01Z\tinfo\tjaeger started"},
		{name: "JSON without level or msg", in: `{"a":1}`, want: `{"a":1}`},
		{name: "broken JSON", in: `{"level":"INFO",`, want: `{"level":"INFO",`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := condense(tt.in, false); got != tt.want {
				t.Errorf("condense =\n  %q\nwant\n  %q", got, tt.want)
			}
		})
	}
}

func TestConsolePrefixesEveryLine(t *testing.T) {
	var out bytes.Buffer
	c := newConsole(&out, "never", true)
	c.logLine("video", "hello")
	c.printf("two\nlines")
	want := "video         │ hello\ndevstack      │ two\ndevstack      │ lines\n"
	if out.String() != want {
		t.Fatalf("console output:\n%q\nwant\n%q", out.String(), want)
	}
	out.Reset()
	newConsole(&out, "always", true).logLine("user", "x")
	if !strings.HasPrefix(out.String(), prefixColors["user"]) {
		t.Errorf("-color always: %q has no colour", out.String())
	}
}

func TestPortsInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	busy := ln.Addr().(*net.TCPAddr).Port
	free := loopback.FreePort(t)
	got := portsInUse(t.Context(), []port{{busy, "busy one"}, {free, "free one"}})
	if len(got) != 1 || got[0].number != busy {
		t.Fatalf("portsInUse = %v, want only %d", got, busy)
	}
	if msg := portsError(got).Error(); !strings.Contains(msg, strconv.Itoa(busy)+" (busy one)") {
		t.Errorf("portsError = %q", msg)
	}
}

func TestParseConfig(t *testing.T) {
	root := t.TempDir()
	writeGoMod(t, root, modulePath)
	env := map[string]string{
		"DEVSTACK_ROOT":          root,
		"KAFKA_BROKERS":          "k1:9092, k2:9092,",
		"USER_DATABASE_URL":      "postgres://u:secret@db/user",
		"DATABASE_URL":           "postgres://everyone@db/shared",
		"DEVSTACK_READY_TIMEOUT": "90s",
		"NO_COLOR":               "1",
	}
	getenv := func(k string) string { return env[k] }

	cfg, err := parseConfig("devstack", []string{"-stop-timeout", "3s"}, getenv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.root != root || cfg.dataDir != filepath.Join(root, ".data") || cfg.binDir != filepath.Join(root, ".cache", "devstack", "bin") {
		t.Errorf("paths: root %q data %q bin %q", cfg.root, cfg.dataDir, cfg.binDir)
	}
	if fmt.Sprint(cfg.kafka) != "[k1:9092 k2:9092]" {
		t.Errorf("kafka = %q", cfg.kafka)
	}
	if len(cfg.databaseURL) != 1 || cfg.databaseURL["user"] != env["USER_DATABASE_URL"] {
		t.Errorf("databaseURL = %v, want only user's (a plain DATABASE_URL is never used)", cfg.databaseURL)
	}
	if cfg.readyTimeout != 90*time.Second || cfg.stopTimeout != 3*time.Second {
		t.Errorf("timeouts = %s, %s", cfg.readyTimeout, cfg.stopTimeout)
	}
	if cfg.color != "never" || cfg.buildOnly {
		t.Errorf("color %q buildOnly %t", cfg.color, cfg.buildOnly)
	}

	cfg, err = parseConfig("devstack", []string{"build", "-data", "elsewhere"}, getenv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.buildOnly || !filepath.IsAbs(cfg.dataDir) || filepath.Base(cfg.dataDir) != "elsewhere" {
		t.Errorf("build: buildOnly %t data %q", cfg.buildOnly, cfg.dataDir)
	}

	for _, args := range [][]string{{"stray"}, {"-color", "purple"}, {"-no-such-flag"}} {
		if _, err := parseConfig("devstack", args, getenv, io.Discard); err == nil {
			t.Errorf("parseConfig(%q) succeeded, want an error", args)
		}
	}
	env["DEVSTACK_STOP_TIMEOUT"] = "soon"
	if _, err := parseConfig("devstack", nil, getenv, io.Discard); err == nil || !strings.Contains(err.Error(), "DEVSTACK_STOP_TIMEOUT") {
		t.Errorf("a bad duration in the environment: %v, want an error naming the variable", err)
	}
}

func TestFindRoot(t *testing.T) {
	root := t.TempDir()
	writeGoMod(t, root, modulePath)
	nested := filepath.Join(root, "services", "devstack")
	if err := os.MkdirAll(nested, 0o750); err != nil {
		t.Fatal(err)
	}
	// A module of its own inside the repository (hack/tools/jaeger) is not
	// the root.
	writeGoMod(t, nested, modulePath+"/hack/tools/jaeger")
	got, err := findRoot(nested)
	if err != nil || got != root {
		t.Fatalf("findRoot = %q, %v; want %q", got, err, root)
	}
	if _, err := findRoot(t.TempDir()); err == nil {
		t.Error("findRoot outside the repository succeeded")
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://vidstream:s3cret@127.0.0.1:5432/user": "postgres://vidstream:xxxxx@127.0.0.1:5432/user",
		"postgres://vidstream@127.0.0.1/user":             "postgres://vidstream@127.0.0.1/user",
		"sqlite:///data/user.db":                          "sqlite:///data/user.db",
	} {
		if got := redact(in); got != want {
			t.Errorf("redact(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRunPrintsUsage(t *testing.T) {
	var out bytes.Buffer
	if err := run(t.Context(), []string{"devstack", "-h"}, func(string) string { return "" }, &out); err != nil {
		t.Fatalf("run -h: %v", err)
	}
	for _, want := range []string{"-kafka", "KAFKA_BROKERS", "JAEGER_BIN", "WATCH_HISTORY_DATABASE_URL"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("usage lacks %q", want)
		}
	}
}

// TestBrokerKeepsItsDataAcrossRestarts runs `devstack broker` twice on one
// data directory: a record written to the first is read from the second.
func TestBrokerKeepsItsDataAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	port := loopback.FreePort(t)
	brokers := []string{net.JoinHostPort("127.0.0.1", strconv.Itoa(port))}
	const topic = "devstack.test"

	startBroker := func() (stop func()) {
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() {
			done <- runBroker(ctx, []string{"-port", strconv.Itoa(port), "-data", dir}, io.Discard)
		}()
		if err := waitReady(t.Context(), "broker", nil, 30*time.Second, probeKafka(brokers)); err != nil {
			t.Fatal(err)
		}
		stopped := false
		stop = func() {
			if stopped {
				return
			}
			stopped = true
			cancel()
			if err := <-done; err != nil {
				t.Errorf("broker: %v", err)
			}
		}
		t.Cleanup(stop)
		return stop
	}

	stop := startBroker()
	if err := kafkabus.EnsureTopics(t.Context(), brokers, kafkabus.TopicSpec{Name: topic}); err != nil {
		t.Fatal(err)
	}
	w := &kafka.Writer{
		Addr: kafka.TCP(brokers...), Topic: topic, RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond,
		// Fresh, so no metadata cached before the topic existed is used.
		Transport: &kafka.Transport{},
	}
	if err := w.WriteMessages(t.Context(), kafka.Message{Key: []byte("k"), Value: []byte("kept")}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	stop()

	startBroker()
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: topic, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	m, err := r.ReadMessage(ctx)
	if err != nil {
		t.Fatalf("read after restart: %v", err)
	}
	if string(m.Value) != "kept" {
		t.Fatalf("read %q after restart, want %q", m.Value, "kept")
	}
}

func TestBrokerNeedsADataDirectory(t *testing.T) {
	if err := runBroker(t.Context(), nil, io.Discard); err == nil {
		t.Fatal("runBroker without -data succeeded")
	}
}

func writeGoMod(t *testing.T, dir, module string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module "+module+"\n\ngo 1.26\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

// The job queue: RABBITMQ_URL wins, "off" turns it off, else a node of
// devstack's own when rabbitmq-server can be found, else none, and the
// summary says which.
func TestChooseRabbitMQ(t *testing.T) {
	server := filepath.Join(t.TempDir(), "rabbitmq-server")
	if err := os.WriteFile(server, []byte("#!/bin/sh\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", t.TempDir()) // no rabbitmq-server, no epmd
	for name, tc := range map[string]struct {
		cfg                 config
		on, embedded        bool
		url, why, inSummary string
	}{
		"external": {cfg: config{rabbitmq: "amqp://u:p@mq:5672/"}, on: true, url: "amqp://u:p@mq:5672/", inSummary: "amqp://u:xxxxx@mq:5672/ (external)"},
		"off":      {cfg: config{rabbitmq: "off"}, why: "RABBITMQ_URL=off", inSummary: "job queue off"},
		"no epmd":  {cfg: config{rabbitmqServer: server}, why: "epmd", inSummary: "OFF"},
	} {
		t.Run(name, func(t *testing.T) {
			q := chooseRabbitMQ(tc.cfg)
			if q.on() != tc.on || q.embedded() != tc.embedded || q.url != tc.url || !strings.Contains(q.why, tc.why) {
				t.Fatalf("chooseRabbitMQ = %+v", q)
			}
			tc.cfg.root, tc.cfg.dataDir = "/repo", "/repo/.data"
			s := &stack{cfg: tc.cfg, queue: q}
			// Columns widen with the table's widest cell: compare words.
			if sum := s.summary(summaryInfo{}); !strings.Contains(strings.Join(strings.Fields(sum), " "), tc.inSummary) {
				t.Errorf("summary lacks %q:\n%s", tc.inSummary, sum)
			}
			ports := fmt.Sprint(s.ports(false, false))
			if strings.Contains(ports, "8084") != q.on() || strings.Contains(ports, "5672") != q.embedded() {
				t.Errorf("ports %s with the queue %+v", ports, q)
			}
		})
	}
	epmd := filepath.Join(filepath.Dir(server), "epmd")
	if err := os.WriteFile(epmd, []byte("#!/bin/sh\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", filepath.Dir(server))
	q := chooseRabbitMQ(config{rabbitmqServer: server})
	if !q.embedded() || q.url != rabbitURL || q.epmd != epmd {
		t.Fatalf("with rabbitmq-server and epmd: %+v, want devstack's own node", q)
	}
	s := &stack{cfg: config{root: "/repo", dataDir: "/repo/.data"}, queue: q}
	if sum := s.summary(summaryInfo{}); !strings.Contains(sum, "devstack's own node, state in .data/rabbitmq") {
		t.Errorf("summary:\n%s", sum)
	}
}
