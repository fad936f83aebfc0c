//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vidstream/vidstream/services/internal/jaegerquery"
)

// envE2E enables TestEndToEnd. It runs the whole system on the default
// ports (docs/architecture.md#ports), which `make test` must not take from a developer's
// `make run`, hence opt-in; `make e2e` and CI set it.
const envE2E = "VIDSTREAM_E2E"

// TestEndToEnd is `make run` and `make demo` as a user runs them: it builds
// devstack and loadgen, starts the whole system as separate processes on a
// fresh data directory, runs the demo, and checks in Jaeger, through its
// HTTP API, that a request crosses every hop in one trace. Then it stops
// the system and checks nothing survives, starts it again and checks the
// data did, and finally kills devstack outright and checks its children
// still stop.
func TestEndToEnd(t *testing.T) {
	if os.Getenv(envE2E) == "" {
		t.Skipf("runs the whole system on the default ports; set %s=1 (make e2e)", envE2E)
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	root, err := findRoot(wd)
	if err != nil {
		t.Fatal(err)
	}
	// A developer's `make run` would answer the probes below in place of
	// the stack under test.
	if busy := portsInUse(t.Context(), (&stack{}).ports(true, true)); len(busy) > 0 {
		t.Fatal(portsError(busy))
	}
	bin := t.TempDir()
	step(t, "build devstack and loadgen", func() {
		mustRun(t, root, 10*time.Minute, "go", "build", "-o", bin+string(filepath.Separator), "./services/devstack", "./services/loadgen")
	})
	devstack, loadgen := filepath.Join(bin, "devstack"), filepath.Join(bin, "loadgen")
	// Building first keeps the readiness deadline below about starting:
	// the first Jaeger build takes minutes.
	step(t, "devstack build (services and Jaeger)", func() {
		mustRun(t, root, 25*time.Minute, devstack, "build", "-color", "never")
	})

	data := t.TempDir()
	var ds *stackProcess
	step(t, "start the stack", func() {
		ds = startStack(t, root, devstack, data)
		ds.waitReady(t, 2*time.Minute)
	})

	reportPath := filepath.Join(t.TempDir(), "demo.json")
	step(t, "loadgen demo", func() {
		out := mustRun(t, root, 5*time.Minute, loadgen, "demo", "-json", reportPath)
		t.Logf("loadgen demo output:\n%s", out)
	})
	report := readDemoReport(t, reportPath)
	jc := &jaegerquery.Client{BaseURL: jaegerQueryURL}

	t.Run("one trace across every hop of PUT /v1/history", func(t *testing.T) {
		id := report.flow(t, "watch to the end").TraceID
		tr := waitForTrace(t, jc, loadgen, id, checkWatchTrace)
		t.Logf("trace %s: %d spans from %v", id, len(tr.Spans), tr.Services())
	})
	t.Run("the job queue's hop in the trace of POST /v1/videos", func(t *testing.T) {
		if !ds.queueOn() {
			if os.Getenv("RABBITMQ_URL") != "" {
				t.Fatal("RABBITMQ_URL is set but devstack ran without the job queue")
			}
			t.Skip("devstack ran without the job queue (no RABBITMQ_URL, no rabbitmq-server)")
		}
		id := report.flow(t, "publish videos").TraceID
		tr := waitForTrace(t, jc, loadgen, id, checkTranscodeTrace)
		t.Logf("trace %s: %d spans from %v", id, len(tr.Spans), tr.Services())
	})
	t.Run("UserDeleted purge reaches watch-history", func(t *testing.T) {
		id := report.flow(t, "delete an account").TraceID
		waitForTrace(t, jc, loadgen, id, checkPurgeTrace)
	})
	t.Run("waterfall of a real trace", func(t *testing.T) {
		id := report.flow(t, "watch to the end").TraceID
		tr, err := jc.Trace(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		out := mustRun(t, root, time.Minute, loadgen, "trace", id)
		checkWaterfall(t, tr, out)
		svg := filepath.Join(t.TempDir(), "trace.svg")
		mustRun(t, root, time.Minute, loadgen, "trace", "-svg", svg, id)
		checkSVG(t, tr, svg)
	})
	t.Run("load", func(t *testing.T) {
		out := mustRun(t, root, 2*time.Minute, loadgen, "load", "-json", "-duration", "3s", "-rate", "40", "-users", "3", "-videos", "5")
		var r struct {
			Requests int            `json:"requests"`
			Errors   int            `json:"errors"`
			Status   map[string]int `json:"status"`
		}
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("load -json: %v\n%s", err, out)
		}
		if r.Requests == 0 || r.Errors != 0 {
			t.Errorf("load: %d requests, %d errors (%v), want some and none", r.Requests, r.Errors, r.Status)
		}
	})

	step(t, "stop the stack with SIGTERM", func() {
		ds.terminate(t, time.Minute)
		ds.checkNothingLeft(t, 30*time.Second)
	})

	step(t, "restart on the same data", func() {
		ds = startStack(t, root, devstack, data)
		ds.waitReady(t, 2*time.Minute)
		checkDataKept(t, report)
	})

	step(t, "kill devstack with SIGKILL", func() {
		if err := ds.cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		_ = ds.wait(time.Minute)
		// The children get SIGTERM from the kernel (the parent death
		// signal) and shut down on their own.
		ds.checkNothingLeft(t, time.Minute)
	})
}

// waitForTrace polls Jaeger until check accepts the trace: its spans arrive
// in batches, the asynchronous hops last. On timeout it fails with the last
// complaint and the trace as loadgen draws it.
func waitForTrace(t *testing.T, jc *jaegerquery.Client, loadgen, id string, check func(*jaegerquery.Trace) error) *jaegerquery.Trace {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		tr, err := jc.Trace(t.Context(), id)
		if err == nil {
			if err = check(tr); err == nil {
				return tr
			}
		}
		if time.Now().After(deadline) {
			out, _ := exec.CommandContext(t.Context(), loadgen, "trace", id).CombinedOutput()
			t.Fatalf("trace %s after 30s: %v\n%s", id, err, out)
		}
		time.Sleep(250 * time.Millisecond) // polling Jaeger, whose ingestion has no completion signal
	}
}

// checkWaterfall checks `loadgen trace` against the trace Jaeger holds:
// one row per span, each span under its parent at the right depth, with
// its service, kind and transport.
func checkWaterfall(t *testing.T, tr *jaegerquery.Trace, out string) {
	t.Helper()
	var rows []string
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "SPAN ") {
			rows = lines[i+1:]
			break
		}
	}
	if len(rows) != len(tr.Spans) {
		t.Fatalf("waterfall has %d rows, trace has %d spans:\n%s", len(rows), len(tr.Spans), out)
	}
	i := 0
	tr.Walk(func(s *jaegerquery.Span) {
		row := rows[i]
		i++
		// Each level of nesting is three columns of tree guides.
		wantIndent := 3 * s.Depth()
		gotIndent := len([]rune(row)) - len([]rune(strings.TrimLeft(row, " │├└─")))
		name := []rune(s.Name)
		if len(name) > 20 {
			name = name[:20] // long names are truncated to fit
		}
		via := string(s.Transport())
		if via == "" {
			via = "-"
		}
		for _, want := range []string{string(name), s.Service, string(s.Kind), " " + via + " "} {
			if !strings.Contains(row, want) {
				t.Errorf("row for %s %q lacks %q: %q", s.Service, s.Name, want, row)
			}
		}
		if gotIndent != wantIndent {
			t.Errorf("row for %s %q is indented %d, want %d (depth %d): %q", s.Service, s.Name, gotIndent, wantIndent, s.Depth(), row)
		}
	})
}

func checkSVG(t *testing.T, tr *jaegerquery.Trace, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte("<svg ")) {
		t.Fatalf("%s does not start with <svg", path)
	}
	if got := bytes.Count(b, []byte("<title>")); got != len(tr.Spans) {
		t.Errorf("SVG has %d span bars, trace has %d spans", got, len(tr.Spans))
	}
}

// checkDataKept logs in, after a restart, as the demo's account that was
// neither deleted nor (for good) logged out, and finds its history.
func checkDataKept(t *testing.T, r demoReport) {
	t.Helper()
	var bob *demoUser
	for i := range r.Users {
		if r.Users[i].Name == "bob" {
			bob = &r.Users[i]
		}
	}
	if bob == nil {
		t.Fatal("demo report has no user bob")
	}
	var session struct {
		Token string `json:"token"`
	}
	postJSON(t, "http://127.0.0.1:8081/v1/sessions", map[string]string{"email": bob.Email, "password": bob.Password}, http.StatusCreated, &session)
	var history struct {
		Items []struct {
			Title     string `json:"title"`
			Completed bool   `json:"completed"`
		} `json:"items"`
	}
	getJSON(t, "http://127.0.0.1:8083/v1/history", session.Token, &history)
	if len(history.Items) == 0 || !history.Items[0].Completed || !strings.Contains(history.Items[0].Title, "(restored)") {
		t.Errorf("after a restart, bob's history is %+v; want the renamed movie, completed", history.Items)
	}
}

// demoReport is the part of `loadgen demo -json` the test reads.
type demoReport struct {
	Users []demoUser `json:"users"`
	Flows []demoFlow `json:"flows"`
}

type demoFlow struct {
	Name    string `json:"name"`
	TraceID string `json:"trace_id"`
	Error   string `json:"error"`
}

type demoUser struct {
	Name     string `json:"name"`
	Email    string `json:"email"`
	Password string `json:"password"`
}

func readDemoReport(t *testing.T, path string) demoReport {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var r demoReport
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("demo report: %v", err)
	}
	return r
}

func (r demoReport) flow(t *testing.T, name string) demoFlow {
	t.Helper()
	for _, f := range r.Flows {
		if f.Name == name {
			if f.Error != "" {
				t.Fatalf("flow %q failed: %s", name, f.Error)
			}
			return f
		}
	}
	t.Fatalf("demo report has no flow %q", name)
	return demoFlow{}
}

// stackProcess is a running devstack.
type stackProcess struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
	err  error
	sp   *spawner
}

var startedRE = regexp.MustCompile(`started (\S+) \(pid (\d+)\)`)

// startStack starts devstack on data in the background. It is stopped, if
// still running, when the test ends.
func startStack(t *testing.T, root, devstack, data string) *stackProcess {
	t.Helper()
	cmd := exec.Command(devstack, "-data", data, "-color", "never")
	cmd.Dir = root
	// Whatever the environment says, this test wants the embedded parts;
	// RABBITMQ_URL alone is kept (CI's real broker; without it devstack
	// starts a node of its own if it can).
	cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool {
		for _, k := range []string{"KAFKA_BROKERS=", "OTEL_EXPORTER_OTLP_ENDPOINT=", "DEVSTACK_DATA=", "DEVSTACK_ROOT="} {
			if strings.HasPrefix(kv, k) {
				return true
			}
		}
		return false
	})
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	// Its own process group, and SIGTERM if this test process dies: the
	// same guarantees devstack gives its children.
	isolate(cmd)
	p := &stackProcess{cmd: cmd, out: out, done: make(chan struct{}), sp: newSpawner()}
	if err := p.sp.start(cmd); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		if !p.exited() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			if p.wait(time.Minute) != nil {
				_ = cmd.Process.Kill()
				<-p.done
			}
		}
		p.sp.close()
		if t.Failed() {
			t.Logf("devstack output (last 150 lines):\n%s", lastLines(out.String(), 150))
		}
	})
	return p
}

func (p *stackProcess) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *stackProcess) wait(timeout time.Duration) error {
	select {
	case <-p.done:
		return nil
	case <-time.After(timeout):
		return fmt.Errorf("devstack still running after %s", timeout)
	}
}

// waitReady polls what devstack waits for itself, from the outside.
func (p *stackProcess) waitReady(t *testing.T, timeout time.Duration) {
	t.Helper()
	probes := map[string]func(context.Context) error{
		"jaeger": probeHTTP(jaegerHealthURL),
		"kafka":  probeKafka([]string{"127.0.0.1:9092"}),
	}
	for _, svc := range services {
		if !svc.jobQueue {
			probes[svc.name] = probeHTTP(fmt.Sprintf("http://127.0.0.1:%d/readyz", svc.httpPort))
		}
	}
	for name, probe := range probes {
		err := waitReady(t.Context(), name, nil, timeout, func(ctx context.Context) error {
			if p.exited() {
				return fmt.Errorf("devstack exited: %v", p.err)
			}
			return probe(ctx)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// The summary table comes last: once it is printed, devstack itself
	// considers the stack up.
	deadline := time.Now().Add(timeout)
	for !strings.Contains(p.out.String(), "vidstream is running") {
		if p.exited() || time.Now().After(deadline) {
			t.Fatalf("devstack did not report readiness (exited: %t, err: %v)", p.exited(), p.err)
		}
		time.Sleep(50 * time.Millisecond) // waiting for a line of output, which has no other signal
	}
	if p.queueOn() {
		for _, svc := range services {
			if svc.jobQueue {
				if err := waitReady(t.Context(), svc.name, nil, timeout, probeHTTP(fmt.Sprintf("http://127.0.0.1:%d/readyz", svc.httpPort))); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}

// queueOn reports whether this run has the job queue (and so the
// transcoder); embeddedRabbit whether devstack started RabbitMQ itself.
func (p *stackProcess) queueOn() bool { _, ok := p.children()["transcoder"]; return ok }

func (p *stackProcess) embeddedRabbit() bool { _, ok := p.children()["rabbitmq"]; return ok }

// ran is the stack this run started, for the ports it used.
func (p *stackProcess) ran() *stack {
	s := &stack{}
	if p.queueOn() {
		s.queue.url = "on"
	}
	if p.embeddedRabbit() {
		s.queue.server = "embedded"
	}
	return s
}

// children returns the pids devstack reported starting.
func (p *stackProcess) children() map[string]int {
	out := map[string]int{}
	for _, m := range startedRE.FindAllStringSubmatch(p.out.String(), -1) {
		pid, _ := strconv.Atoi(m[2])
		out[m[1]] = pid
	}
	return out
}

// terminate stops devstack as Ctrl-C or a service manager would, and
// expects a clean exit.
func (p *stackProcess) terminate(t *testing.T, timeout time.Duration) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p.wait(timeout); err != nil {
		t.Fatal(err)
	}
	if p.err != nil {
		t.Fatalf("devstack exited with %v after SIGTERM, want a clean exit", p.err)
	}
	wants := []string{"stopped watch-history", "stopped video", "stopped user", "stopped jaeger", "stopped kafka"}
	if p.queueOn() {
		wants = append(wants, "stopped transcoder")
	}
	if p.embeddedRabbit() {
		wants = append(wants, "stopped rabbitmq", "stopped epmd")
	}
	for _, want := range wants {
		if !strings.Contains(p.out.String(), want) {
			t.Errorf("devstack output lacks %q", want)
		}
	}
}

// checkNothingLeft waits until no child devstack started is alive and no
// port of the stack is listening.
func (p *stackProcess) checkNothingLeft(t *testing.T, timeout time.Duration) {
	t.Helper()
	kids := p.children()
	for _, want := range []string{"kafka", "jaeger", "user", "video", "watch-history"} {
		if _, ok := kids[want]; !ok {
			t.Fatalf("devstack reported starting %v, want kafka, jaeger and the services", kids)
		}
	}
	deadline := time.Now().Add(timeout)
	for {
		var alive []string
		for name, pid := range kids {
			if processAlive(pid) {
				alive = append(alive, fmt.Sprintf("%s (pid %d)", name, pid))
			}
		}
		var listening []string
		for _, port := range p.ran().ports(true, true) {
			conn, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port.number)), 200*time.Millisecond)
			if err == nil {
				_ = conn.Close()
				listening = append(listening, fmt.Sprintf("%d (%s)", port.number, port.owner))
			}
		}
		if len(alive) == 0 && len(listening) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s still alive: %v; still listening: %v", timeout, alive, listening)
		}
		time.Sleep(100 * time.Millisecond) // waiting for other processes to exit, which has no other signal
	}
}

// processAlive reports whether pid runs. A zombie (exited, not yet reaped
// by whichever process adopted it) counts as gone.
func processAlive(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return !errors.Is(err, os.ErrNotExist)
	}
	// The state follows the command name, which is in parentheses.
	i := bytes.LastIndexByte(stat, ')')
	return i < 0 || i+2 >= len(stat) || stat[i+2] != 'Z'
}

// step runs a stage of the test, logging how long it took: the test is
// also the measurement of the stack's build and start times.
func step(t *testing.T, name string, fn func()) {
	t.Helper()
	start := time.Now()
	fn()
	t.Logf("%s: %s", name, time.Since(start).Round(100*time.Millisecond))
}

// mustRun runs a command to completion and returns its standard output.
func mustRun(t *testing.T, dir string, timeout time.Duration, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\nstdout:\n%s\nstderr:\n%s", filepath.Base(name), strings.Join(args, " "), err,
			lastLines(stdout.String(), 100), lastLines(stderr.String(), 100))
	}
	return stdout.String()
}

func postJSON(t *testing.T, url string, body any, want int, dst any) {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	doJSON(t, req, want, dst)
}

func getJSON(t *testing.T, url, token string, dst any) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, http.NoBody)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	doJSON(t, req, http.StatusOK, dst)
}

func doJSON(t *testing.T, req *http.Request, want int, dst any) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: %s, want %d: %s", req.Method, req.URL, resp.Status, want, body)
	}
	if err := json.Unmarshal(body, dst); err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a
// process's stdout and stderr and the test's reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
