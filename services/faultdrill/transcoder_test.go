package faultdrill

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vidstream/vidstream/services/api/events"
	eventsv1 "github.com/vidstream/vidstream/services/api/events/v1"
	"github.com/vidstream/vidstream/services/internal/kafkabus/kafkatest"
	"github.com/vidstream/vidstream/services/internal/loopback"
	"github.com/vidstream/vidstream/services/internal/peerauth"
	"github.com/vidstream/vidstream/services/internal/service"
	"github.com/vidstream/vidstream/services/internal/service/servicetest"
	"github.com/vidstream/vidstream/services/internal/telemetry"
	"github.com/vidstream/vidstream/services/internal/workqueue/workqueuetest"
	videoapp "github.com/vidstream/vidstream/services/video/app"
)

// buildService builds services/<name> into a temporary directory.
func buildService(t *testing.T, name string) string {
	t.Helper()
	gomod, err := exec.CommandContext(t.Context(), "go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	bin := filepath.Join(t.TempDir(), name)
	cmd := exec.CommandContext(t.Context(), "go", "build", "-o", bin, "./services/"+name)
	cmd.Dir = filepath.Dir(strings.TrimSpace(string(gomod)))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", name, err, out)
	}
	return bin
}

// logWatch collects a process's log lines (it is the process's stdout and
// stderr) and lets a test wait for one.
type logWatch struct {
	mu      sync.Mutex
	partial []byte
	lines   []string
	more    chan struct{}
}

func newLogWatch() *logWatch { return &logWatch{more: make(chan struct{}, 1)} }

func (w *logWatch) Write(p []byte) (int, error) {
	w.mu.Lock()
	w.partial = append(w.partial, p...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			break
		}
		w.lines = append(w.lines, string(w.partial[:i]))
		w.partial = w.partial[i+1:]
	}
	w.mu.Unlock()
	select {
	case w.more <- struct{}{}:
	default:
	}
	return len(p), nil
}

// wait returns once a line holds every one of parts, failing t after limit.
func (w *logWatch) wait(t *testing.T, limit time.Duration, parts ...string) {
	t.Helper()
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	for {
		w.mu.Lock()
		for _, l := range w.lines {
			if all(l, parts) {
				w.mu.Unlock()
				return
			}
		}
		w.mu.Unlock()
		select {
		case <-w.more:
		case <-deadline.C:
			t.Fatalf("no log line with %q within %v", parts, limit)
		}
	}
}

func all(s string, parts []string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

// transcodeRig is user and video in-process, video with the job queue on
// a queue of the test's own, and the transcoder as a real process.
type transcodeRig struct {
	bin      string
	env      []string
	proc     *exec.Cmd
	client   *http.Client
	videoURL string
	token    string
	brokers  []string
}

func newTranscodeRig(t *testing.T) *transcodeRig {
	t.Helper()
	gate(t)
	rabbitURL := workqueuetest.URL(t)
	r := &transcodeRig{bin: buildService(t, "transcoder"), client: &http.Client{Timeout: 10 * time.Second}}
	r.brokers = kafkatest.NewCluster(t).Brokers()
	dir := t.TempDir()
	// A queue of the test's own on the shared broker; its retry delay is
	// the transcoder's.
	queue := workqueuetest.Topology(t, rabbitURL, events.TranscodeQueue, 200*time.Millisecond).Queue

	// East-west authentication on, as in production.
	keys := map[string][2]string{}
	var peers []string
	for _, name := range []string{"user", "video", "transcoder"} {
		_, private, public, err := peerauth.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		keys[name] = [2]string{private, public}
		peers = append(peers, name+"="+public)
	}
	ua := newUserApp(t, dir, r.brokers, "127.0.0.1:0")
	servicetest.Run(t, "user", ua.Run)
	vbase := servicetest.Base(t, "sqlite://"+filepath.Join(dir, "video.db"), r.brokers)
	vbase.ServiceAuth, vbase.ServiceKey, vbase.ServicePeers = service.ServiceAuthRequired, keys["video"][0], strings.Join(peers, ",")
	vbase.RabbitMQURL = rabbitURL
	va, err := videoapp.New(t.Context(), videoapp.Config{Base: vbase, UserGRPCAddr: ua.GRPCAddr(), TranscodeQueue: queue}, telemetry.Noop())
	if err != nil {
		t.Fatal(err)
	}
	servicetest.Run(t, "video", va.Run)
	r.videoURL = "http://" + va.HTTPAddr()
	r.token = login(t, r.client, "http://"+ua.HTTPAddr())

	r.env = append(environ(),
		"HTTP_ADDR="+loopback.FreeAddr(t),
		"RABBITMQ_URL="+rabbitURL, "TRANSCODE_QUEUE="+queue,
		"VIDEO_GRPC_ADDR="+va.GRPCAddr(),
		// Long enough to act in the middle of a job.
		"TRANSCODE_DURATION=4s", "TRANSCODE_PREFETCH=1", "TRANSCODE_RETRY_DELAY=200ms",
		"SERVICE_AUTH=required", "SERVICE_KEY="+keys["transcoder"][0], "SERVICE_PEERS="+strings.Join(peers, ","),
		"OTEL_TRACES_EXPORTER=none", "OTEL_METRICS_EXPORTER=none", "OTEL_LOGS_EXPORTER=none", "LOG_LEVEL=info",
	)
	t.Cleanup(func() {
		if r.proc != nil && r.proc.ProcessState == nil {
			_ = r.proc.Process.Kill()
			_ = r.proc.Wait()
		}
	})
	return r
}

// start runs the transcoder process and returns its log.
func (r *transcodeRig) start(t *testing.T) *logWatch {
	t.Helper()
	r.proc = exec.Command(r.bin)
	r.proc.Env = r.env
	logs := newLogWatch()
	r.proc.Stdout, r.proc.Stderr = logs, logs
	if err := r.proc.Start(); err != nil {
		t.Fatalf("start transcoder: %v", err)
	}
	return logs
}

// newVideo publishes a video and checks it is processing.
func (r *transcodeRig) newVideo(t *testing.T) string {
	t.Helper()
	status, body, err := send(t.Context(), r.client, http.MethodPost, r.videoURL+"/v1/videos", r.token, map[string]any{
		"title": "Dailies", "description": "", "kind": "movie", "duration_seconds": 600,
	})
	if err != nil || status != http.StatusCreated {
		t.Fatalf("create video: %d %s %v", status, body, err)
	}
	var v struct{ ID, Status string }
	_ = json.Unmarshal(body, &v)
	if v.Status != "processing" {
		t.Fatalf("new video is %q, want processing", v.Status)
	}
	return v.ID
}

func (r *transcodeRig) status(t *testing.T, id string) string {
	t.Helper()
	resp, err := r.client.Get(r.videoURL + "/v1/videos/" + id)
	if err != nil {
		t.Fatalf("GET video: %v", err)
	}
	defer func() { _ = resp.Body.Close() }()
	var v struct{ Status string }
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Fatalf("decode video: %v", err)
	}
	return v.Status
}

// published waits for the video's VideoPublished and returns how many
// records and distinct events (ce_id) the topic holds for it.
func (r *transcodeRig) published(t *testing.T, id string) (records, distinct int) {
	t.Helper()
	until(t, time.Minute, "VideoPublished in the topic", func() bool {
		ids := map[string]bool{}
		records = 0
		for _, m := range kafkatest.Records(t, r.brokers, events.VideosTopic) {
			if string(m.Key) == id && kafkatest.Header(m, "ce_type") == events.Type(events.VideosTopic, &eventsv1.VideoPublished{}) {
				records++
				ids[kafkatest.Header(m, "ce_id")] = true
			}
		}
		distinct = len(ids)
		return distinct > 0
	})
	return records, distinct
}

// TestTranscoderKilledMidJob: the transcoder, a real process, is SIGKILLed
// while it works on a job, and started again. Promised: the job it never
// acknowledged is redelivered and completes, the video ends ready, and
// VideoPublished is emitted once (one event id, however often the relay
// publishes it).
func TestTranscoderKilledMidJob(t *testing.T) {
	r := newTranscodeRig(t)
	logs := r.start(t)
	id := r.newVideo(t)

	// Mid-job: the transcoder took it and has not reported.
	logs.wait(t, time.Minute, "transcode started", id)
	killedAt := time.Now()
	if err := r.proc.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = r.proc.Wait()
	if got := r.status(t, id); got != "processing" {
		t.Fatalf("after the kill the video is %q, want still processing", got)
	}

	logs = r.start(t)
	logs.wait(t, time.Minute, "transcode started", id, `"redelivered":true`)
	until(t, time.Minute, "video ready", func() bool { return r.status(t, id) == "ready" })
	recovered := time.Since(killedAt)
	records, distinct := r.published(t, id)
	if distinct != 1 {
		t.Fatalf("%d VideoPublished events (distinct ids) for one video, want 1", distinct)
	}
	report(t, "transcoder sigkill: job redelivered and done, video ready %v after the kill; VideoPublished records %d, distinct events %d",
		recovered.Round(time.Millisecond), records, distinct)
}

// TestTranscoderDrainsOnSIGTERM: a transcoder asked to stop in the middle
// of a job finishes it, reports it and exits cleanly; nothing is
// redelivered.
func TestTranscoderDrainsOnSIGTERM(t *testing.T) {
	r := newTranscodeRig(t)
	logs := r.start(t)
	id := r.newVideo(t)
	logs.wait(t, time.Minute, "transcode started", id)
	stoppedAt := time.Now()
	if err := r.proc.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := r.proc.Wait(); err != nil {
		t.Fatalf("transcoder exited with %v after SIGTERM, want a clean exit", err)
	}
	took := time.Since(stoppedAt)
	logs.wait(t, time.Second, "transcode done", id)
	if got := r.status(t, id); got != "ready" {
		t.Fatalf("after the drain the video is %q, want ready", got)
	}
	if _, distinct := r.published(t, id); distinct != 1 {
		t.Fatalf("%d VideoPublished events for one video, want 1", distinct)
	}
	report(t, "transcoder sigterm: the job in flight finished and was reported; exit %v after SIGTERM", took.Round(time.Millisecond))
}
