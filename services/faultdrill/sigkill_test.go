package faultdrill

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"context"

	"github.com/vidstream/vidstream/services/api/events"
	eventsv1 "github.com/vidstream/vidstream/services/api/events/v1"
	"github.com/vidstream/vidstream/services/internal/kafkabus/kafkatest"
	"github.com/vidstream/vidstream/services/internal/loopback"
	"github.com/vidstream/vidstream/services/internal/peerauth"
	"github.com/vidstream/vidstream/services/internal/service"
	"github.com/vidstream/vidstream/services/internal/service/servicetest"
	"github.com/vidstream/vidstream/services/internal/telemetry"
	userapp "github.com/vidstream/vidstream/services/user/app"
	videoapp "github.com/vidstream/vidstream/services/video/app"
)

// buildHistory builds the watch-history binary into a temporary directory.
func buildHistory(t *testing.T) string {
	t.Helper()
	gomod, err := exec.CommandContext(t.Context(), "go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "watch-history")
	cmd := exec.CommandContext(t.Context(), "go", "build", "-o", bin, "./services/watch-history")
	cmd.Dir = filepath.Dir(strings.TrimSpace(string(gomod)))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build watch-history: %v\n%s", err, out)
	}
	return bin
}

// TestServiceKilledUnderLoad: watch-history, a real process, is SIGKILLed
// while progress reports arrive, and started again. Promised: every write
// it acknowledged is in its database and its event reaches the topic; the
// events a crash makes the relay publish twice have one effect on the
// consumer side (the view counter counts each completion once).
func TestServiceKilledUnderLoad(t *testing.T) {
	gate(t)
	bin := buildHistory(t)
	brokers := kafkatest.NewCluster(t).Brokers()
	dir := t.TempDir()
	client := &http.Client{Timeout: 10 * time.Second}

	// East-west authentication on, as in production: the process reads
	// its key and its callers' keys from the environment.
	keys := map[string][2]string{}
	var peers []string
	for _, name := range []string{"user", "video", "watch-history"} {
		_, private, public, err := peerauth.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		keys[name] = [2]string{private, public}
		peers = append(peers, name+"="+public)
	}
	withKeys := func(name string, b service.Base) service.Base {
		b.ServiceAuth, b.ServiceKey, b.ServicePeers = service.ServiceAuthRequired, keys[name][0], strings.Join(peers, ",")
		return b
	}

	ubase := withKeys("user", servicetest.Base(t, "sqlite://"+filepath.Join(dir, "user.db"), brokers))
	ua, err := userapp.New(t.Context(), userapp.Config{Base: ubase, Argon2MemoryKiB: 8, Argon2Iterations: 1, Argon2Parallelism: 1}, telemetry.Noop())
	if err != nil {
		t.Fatal(err)
	}
	servicetest.Run(t, "user", ua.Run)
	vcfg := videoapp.Config{Base: withKeys("video", servicetest.Base(t, "sqlite://"+filepath.Join(dir, "video.db"), brokers)), UserGRPCAddr: ua.GRPCAddr()}
	va, err := videoapp.New(t.Context(), vcfg, telemetry.Noop())
	if err != nil {
		t.Fatal(err)
	}
	servicetest.Run(t, "video", va.Run)
	userURL, videoURL := "http://"+ua.HTTPAddr(), "http://"+va.HTTPAddr()

	httpAddr := loopback.FreeAddr(t)
	historyURL := "http://" + httpAddr
	env := append(os.Environ(),
		"HTTP_ADDR="+httpAddr, "GRPC_ADDR="+loopback.FreeAddr(t),
		"DATABASE_URL=sqlite://"+filepath.Join(dir, "history.db"),
		"KAFKA_BROKERS="+strings.Join(brokers, ","),
		"USER_GRPC_ADDR="+ua.GRPCAddr(), "VIDEO_GRPC_ADDR="+va.GRPCAddr(),
		"SERVICE_AUTH=required", "SERVICE_KEY="+keys["watch-history"][0], "SERVICE_PEERS="+strings.Join(peers, ","),
		"OTEL_TRACES_EXPORTER=none", "OTEL_METRICS_EXPORTER=none", "OTEL_LOGS_EXPORTER=none", "LOG_LEVEL=warn",
	)
	var proc *exec.Cmd
	startHistory := func() {
		t.Helper()
		proc = exec.Command(bin)
		proc.Env = env
		if err := proc.Start(); err != nil {
			t.Fatalf("start watch-history: %v", err)
		}
		until(t, time.Minute, "watch-history ready", func() bool {
			resp, err := client.Get(historyURL + "/readyz")
			if err != nil {
				return false
			}
			_ = resp.Body.Close()
			return resp.StatusCode == http.StatusOK
		})
	}
	startHistory()
	t.Cleanup(func() {
		_ = proc.Process.Signal(syscall.SIGTERM)
		_ = proc.Wait()
	})

	const workers, rate, duration = 4, 25, 400 // 90 % of 400 s: completed at position 360
	type write struct {
		user, video string
		position    int32
	}
	type viewer struct{ token, userID, videoID string }
	var viewers []viewer
	for range workers {
		tok := login(t, client, userURL)
		status, body, err := send(t.Context(), client, http.MethodPost, videoURL+"/v1/videos", tok, map[string]any{
			"title": "Film", "description": "", "kind": "movie", "duration_seconds": duration,
		})
		if err != nil || status != http.StatusCreated {
			t.Fatalf("create video: %d %s %v", status, body, err)
		}
		var v struct {
			ID string `json:"id"`
		}
		_ = json.Unmarshal(body, &v)
		_, body, _ = send(t.Context(), client, http.MethodGet, userURL+"/v1/users/me", tok, nil)
		var me struct {
			ID string `json:"id"`
		}
		_ = json.Unmarshal(body, &me)
		viewers = append(viewers, viewer{token: tok, userID: me.ID, videoID: v.ID})
	}

	var (
		mu     sync.Mutex
		acked  = map[write]bool{}
		last   = map[string]int32{} // video -> last acknowledged position
		failed int
	)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, v := range viewers {
		wg.Go(func() {
			tick := time.NewTicker(time.Second / rate) // the load's pace
			defer tick.Stop()
			for pos := int32(1); pos <= duration && ctx.Err() == nil; {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
				status, _, err := send(ctx, client, http.MethodPut, historyURL+"/v1/history/"+v.videoID, v.token, map[string]any{"position_seconds": pos})
				mu.Lock()
				if err == nil && (status == http.StatusOK || status == http.StatusCreated) {
					acked[write{v.userID, v.videoID, pos}] = true
					last[v.videoID] = pos
					pos++ // the next position only once this one is acknowledged
				} else if ctx.Err() == nil {
					failed++
				}
				mu.Unlock()
			}
		})
	}
	defer func() { cancel(); wg.Wait() }()
	ackedCount := func() int { mu.Lock(); defer mu.Unlock(); return len(acked) }

	until(t, time.Minute, "writes before the kill", func() bool { return ackedCount() >= 300 })
	if err := proc.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = proc.Wait()
	killedAt := time.Now()
	beforeKill := ackedCount()
	startHistory()
	restarted := time.Since(killedAt)
	wg.Wait() // every viewer reports up to the end of its film
	cancel()

	// Every acknowledged write is in the database: each viewer's entry
	// holds its last acknowledged position.
	for _, v := range viewers {
		status, body, err := send(t.Context(), client, http.MethodGet, historyURL+"/v1/history", v.token, nil)
		if err != nil || status != http.StatusOK {
			t.Fatalf("list history: %d %s %v", status, body, err)
		}
		if !strings.Contains(string(body), `"position_seconds":`+itoa(last[v.videoID])) {
			t.Errorf("viewer's history %s, want position %d", body, last[v.videoID])
		}
	}
	// Every acknowledged write's event is in the topic; count duplicates.
	var records, distinct, missing int
	until(t, 2*time.Minute, "every acknowledged write's event in the topic", func() bool {
		seen, ids := map[write]bool{}, map[string]bool{}
		msgs := kafkatest.Records(t, brokers, events.WatchTopic)
		for _, m := range msgs {
			ids[kafkatest.Header(m, "ce_id")] = true
			var ev eventsv1.WatchProgressed
			if kafkatest.Header(m, "ce_type") == events.Type(events.WatchTopic, &eventsv1.WatchProgressed{}) && proto.Unmarshal(m.Value, &ev) == nil {
				seen[write{ev.GetUserId(), ev.GetVideoId(), ev.GetPositionSeconds()}] = true
			}
		}
		records, distinct, missing = len(msgs), len(ids), 0
		for w := range acked {
			if !seen[w] {
				missing++
			}
		}
		return missing == 0
	})
	// Each film was completed once: its view count is exactly 1, however
	// many times its VideoWatched was published.
	for _, v := range viewers {
		until(t, time.Minute, "view counted", func() bool {
			_, body, err := send(t.Context(), client, http.MethodGet, videoURL+"/v1/videos/"+v.videoID, "", nil)
			return err == nil && strings.Contains(string(body), `"view_count":1`)
		})
	}
	report(t, "sigkill: writes acknowledged %d (%d before the kill), failed while down %d; ready again %v after the kill",
		len(acked), beforeKill, failed, restarted.Round(time.Millisecond))
	report(t, "sigkill: acknowledged writes missing from the database 0, without their event %d; records in the topic %d, distinct ce_ids %d (duplicates %d), view counts all exactly 1",
		missing, records, distinct, records-distinct)
}

func itoa(n int32) string {
	b, _ := json.Marshal(n)
	return string(b)
}
