package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vidstream/vidstream/services/internal/kafkabus/kafkatest"
	"github.com/vidstream/vidstream/services/internal/loopback"
	"github.com/vidstream/vidstream/services/internal/peerauth"
	"github.com/vidstream/vidstream/services/loadgen/bench/internal/bare"
	"github.com/vidstream/vidstream/services/loadgen/internal/api"
)

const (
	// processIdle is how long the processes rest after the last is ready
	// before their idle memory is read: long enough for start-up garbage
	// to be collected.
	processIdle = 5 * time.Second
	// processLoadRate and processLoad shape the load phase: progress
	// reports, to watch history and to the bare process alike.
	processLoadRate = 200
	processLoad     = 10 * time.Second
)

// BenchmarkProcesses runs each service as the process it is deployed as
// (its binary, configured through the environment, tracing at the
// default sampler and exported over OTLP to a stand-in collector), one
// after the other, and a bare process (bareserver: package bare's handler
// on chi and the same database drivers) as the baseline. For each:
//
//	ready-ms      from exec to the first 200 of GET /readyz
//	rss-idle-MiB  resident memory after processIdle at rest
//	rss-load-MiB  the highest resident memory seen while watch history
//	              (and so user and video, which it calls) and the bare
//	              process each take processLoadRate progress reports a
//	              second for processLoad
//
// Binaries are built first (not timed). Run it with -benchtime 1x: one
// start per process per run.
//
//	go test ./services/loadgen/bench -run '^$' -bench Processes -benchtime 1x
func BenchmarkProcesses(b *testing.B) {
	figs := measureProcesses(b)
	for _, name := range []string{"bare", "user", "video", "watch-history"} {
		f := figs[name]
		b.Run("svc="+name, func(b *testing.B) {
			b.ReportMetric(ms(f.ready), "ready-ms")
			b.ReportMetric(f.idleRSS, "rss-idle-MiB")
			b.ReportMetric(f.loadRSS, "rss-load-MiB")
		})
	}
}

type processFigures struct {
	ready            time.Duration
	idleRSS, loadRSS float64 // MiB
}

type process struct {
	name string
	cmd  *exec.Cmd
	http string
}

func measureProcesses(b *testing.B) map[string]processFigures {
	b.Helper()
	bin := buildBinaries(b)
	brokers := kafkatest.Broker(b)
	sink := collector(b)
	dir := b.TempDir()

	userGRPC, videoGRPC := loopback.FreeAddr(b), loopback.FreeAddr(b)
	common := []string{
		"PATH=" + os.Getenv("PATH"),
		"KAFKA_BROKERS=" + strings.Join(brokers, ","),
		"USER_GRPC_ADDR=" + userGRPC,
		"VIDEO_GRPC_ADDR=" + videoGRPC,
		"OTEL_EXPORTER_OTLP_ENDPOINT=" + sink.URL,
		"OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
		"LOG_LEVEL=warn",
		// As in startSystem: hashing only happens in the fixture.
		"ARGON2_MEMORY_KIB=8", "ARGON2_ITERATIONS=1",
	}
	specs := []struct{ name, grpc string }{
		{"user", userGRPC}, {"video", videoGRPC}, {"watch-history", loopback.FreeAddr(b)}, {"bare", ""},
	}
	// Each service signs its calls to the others with its own key, as in
	// production (east-west authentication).
	keys := map[string]string{}
	var peers []string
	for _, s := range specs {
		_, private, public, err := peerauth.GenerateKey()
		if err != nil {
			b.Fatal(err)
		}
		keys[s.name] = private
		peers = append(peers, s.name+"="+public)
	}
	common = append(common, "SERVICE_PEERS="+strings.Join(peers, ","))
	figs := map[string]processFigures{}
	procs := map[string]*process{}
	for _, s := range specs {
		httpAddr := loopback.FreeAddr(b)
		bin := filepath.Join(bin, s.name)
		if s.name == "bare" {
			bin = filepath.Join(filepath.Dir(bin), "bareserver")
		}
		env := append(append([]string(nil), common...),
			"HTTP_ADDR="+httpAddr, "GRPC_ADDR="+s.grpc, "SERVICE_KEY="+keys[s.name],
			"DATABASE_URL=sqlite://"+filepath.Join(dir, s.name+".db"))
		start := time.Now()
		p := startProcess(b, s.name, bin, env)
		p.http = "http://" + httpAddr
		waitReady(b, p.http+"/readyz")
		figs[s.name] = processFigures{ready: time.Since(start)}
		procs[s.name] = p
	}

	idle := processIdle
	load := processLoad
	if testing.Short() {
		idle, load = 100*time.Millisecond, time.Second
	}
	time.Sleep(idle) // a measurement of rest, not a synchronisation
	for name, p := range procs {
		f := figs[name]
		f.idleRSS = rssMiB(b, p.cmd.Process.Pid)
		figs[name] = f
	}

	// The load: watch history with its real fixture, the bare process
	// with its own, at the same rate, side by side.
	client := &api.Client{UserURL: procs["user"].http, VideoURL: procs["video"].http, HistoryURL: procs["watch-history"].http, HTTP: newHTTPClient(b)}
	svc := &putTarget{client: client, fx: newFixture(b, client, 10, 20)}
	bareT := &putTarget{client: &api.Client{HistoryURL: procs["bare"].http, HTTP: newHTTPClient(b)}, fx: bareFixture(10, 20, bare.Duration)}

	ctx, stop := context.WithCancel(b.Context())
	var (
		peaks = map[string]float64{}
		mu    sync.Mutex
		wg    sync.WaitGroup
	)
	wg.Go(func() {
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			for name, p := range procs {
				if r := rssMiB(b, p.cmd.Process.Pid); r > 0 {
					mu.Lock()
					peaks[name] = max(peaks[name], r)
					mu.Unlock()
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	})
	n := int(load.Seconds() * processLoadRate)
	var loads sync.WaitGroup
	for _, t := range []*putTarget{svc, bareT} {
		loads.Go(func() { openRun(b, processLoadRate, n, t.put) })
	}
	loads.Wait()
	stop()
	wg.Wait()
	for name := range procs {
		f := figs[name]
		f.loadRSS = peaks[name]
		figs[name] = f
	}
	return figs
}

// buildBinaries builds the three services and bareserver into a temporary
// directory, with the go command that runs the benchmarks.
func buildBinaries(tb testing.TB) string {
	tb.Helper()
	out, err := exec.CommandContext(tb.Context(), "go", "env", "GOMOD").Output()
	if err != nil {
		tb.Fatalf("go env GOMOD: %v", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(out)))
	dir := tb.TempDir()
	cmd := exec.CommandContext(tb.Context(), "go", "build", "-o", dir+string(filepath.Separator),
		"./services/user", "./services/video", "./services/watch-history", "./services/loadgen/bench/internal/bareserver")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("build the services: %v\n%s", err, out)
	}
	return dir
}

// startProcess starts a binary and stops it (SIGTERM, then SIGKILL after
// 15 s) when tb ends; its output is kept for the failure message.
func startProcess(tb testing.TB, name, path string, env []string) *process {
	tb.Helper()
	var out syncBuffer
	cmd := exec.Command(path) // not CommandContext: stopped by SIGTERM first, below
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start %s: %v", name, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	tb.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-done:
			if err != nil {
				tb.Errorf("%s: %v\n%s", name, err, out.String())
			}
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			tb.Errorf("%s did not stop within 15 s of SIGTERM (killed: %v)\n%s", name, <-done, out.String())
		}
	})
	return &process{name: name, cmd: cmd}
}

// rssMiB reads a process's resident set (VmRSS) from /proc; 0 when it
// cannot (the process is gone, or this is not Linux).
func rssMiB(tb testing.TB, pid int) float64 {
	tb.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			if err != nil {
				tb.Fatalf("parse VmRSS %q: %v", rest, err)
			}
			return kb / 1024
		}
	}
	return 0
}

// syncBuffer is a bytes.Buffer safe for a process's two output pipes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
