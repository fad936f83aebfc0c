package faultdrill

import (
	"context"
	"encoding/json"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vidstream/vidstream/services/internal/kafkabus/kafkatest"
	"github.com/vidstream/vidstream/services/internal/loopback"
	"github.com/vidstream/vidstream/services/internal/service/servicetest"
	"github.com/vidstream/vidstream/services/internal/telemetry"
	videoapp "github.com/vidstream/vidstream/services/video/app"
)

// postgresOutage is how long the database stays down.
const postgresOutage = 10 * time.Second

// postgres runs hack/postgres.sh for a PostgreSQL cluster of the drill's
// own (its own name and port), never the shared test server.
type postgres struct {
	t    *testing.T
	root string
	env  []string
}

func (p postgres) run(verb string) string {
	p.t.Helper()
	cmd := exec.CommandContext(context.Background(), "hack/postgres.sh", verb)
	cmd.Dir, cmd.Env = p.root, p.env
	out, err := cmd.Output()
	if err != nil {
		p.t.Fatalf("hack/postgres.sh %s: %v", verb, err)
	}
	return strings.TrimSpace(string(out))
}

// TestPostgresRestartUnderLoad: the video service serves reads and writes
// under steady load while its PostgreSQL is stopped for 10 s and started
// again. Promised: server errors only while the database is down; the
// service reconnects by itself; every write it acknowledged is there
// afterwards.
//
// It needs PostgreSQL installed (hack/postgres.sh, as CI does), and runs
// a cluster of its own.
func TestPostgresRestartUnderLoad(t *testing.T) {
	gate(t)
	if _, err := exec.LookPath("pg_ctlcluster"); err != nil {
		t.Skip("PostgreSQL is not installed (hack/postgres.sh start installs it)")
	}
	gomod, err := exec.CommandContext(t.Context(), "go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := strings.Cut(loopback.FreeAddr(t), ":")
	pg := postgres{t: t, root: filepath.Dir(strings.TrimSpace(string(gomod))),
		env: append(environ(), "POSTGRES_CLUSTER=vidstream-drill-"+port, "POSTGRES_PORT="+port)}
	url := pg.run("start")
	t.Cleanup(func() { pg.run("destroy") })

	brokers := kafkatest.Broker(t)
	dir := t.TempDir()
	client := &http.Client{Timeout: 30 * time.Second}
	ua := newUserApp(t, dir, brokers, "127.0.0.1:0")
	servicetest.Run(t, "user", ua.Run)
	vcfg := videoapp.Config{Base: servicetest.Base(t, url, brokers), UserGRPCAddr: ua.GRPCAddr()}
	vcfg.RPCTimeout = 2 * time.Second
	va, err := videoapp.New(t.Context(), vcfg, telemetry.Noop())
	if err != nil {
		t.Fatal(err)
	}
	servicetest.Run(t, "video", va.Run)
	userURL, videoURL := "http://"+ua.HTTPAddr(), "http://"+va.HTTPAddr()
	until(t, time.Minute, "services ready", func() bool {
		for _, u := range []string{userURL, videoURL} {
			resp, err := client.Get(u + "/readyz")
			if err != nil {
				return false
			}
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return false
			}
		}
		return true
	})
	token := login(t, client, userURL)

	type answer struct {
		at     time.Time
		status int
	}
	var (
		mu      sync.Mutex
		answers []answer
		created []string
	)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			tick := time.NewTicker(20 * time.Millisecond) // the load's pace
			defer tick.Stop()
			for i := 0; ctx.Err() == nil; i++ {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
				at := time.Now()
				status, body, err := send(ctx, client, http.MethodPost, videoURL+"/v1/videos", token, map[string]any{
					"title": "Film " + strconv.Itoa(w) + "-" + strconv.Itoa(i), "description": "", "kind": "movie", "duration_seconds": 60,
				})
				if err != nil {
					continue
				}
				mu.Lock()
				answers = append(answers, answer{at, status})
				if status == http.StatusCreated {
					var v struct {
						ID string `json:"id"`
					}
					if json.Unmarshal(body, &v) == nil {
						created = append(created, v.ID)
					}
				}
				mu.Unlock()
			}
		})
	}
	defer func() { cancel(); wg.Wait() }()
	okSince := func(from time.Time) int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, a := range answers {
			if !a.at.Before(from) && a.status == http.StatusCreated {
				n++
			}
		}
		return n
	}
	begin := time.Now()
	until(t, time.Minute, "writes before the fault", func() bool { return okSince(begin) >= 100 })
	stoppedAt := time.Now()
	pg.run("stop")
	until(t, 2*postgresOutage, "the outage", func() bool { return time.Since(stoppedAt) >= postgresOutage })
	pg.run("start")
	startedAt := time.Now()
	until(t, 2*time.Minute, "writes after the restart", func() bool { return okSince(startedAt) >= 100 })
	cancel()
	wg.Wait()

	var firstOK time.Time
	var before5xx, during5xx, after5xx, total int
	duringByStatus := map[int]int{}
	for _, a := range answers {
		total++
		switch {
		case a.at.Before(stoppedAt):
			if a.status >= 500 {
				before5xx++
			}
		case a.at.Before(startedAt):
			duringByStatus[a.status]++
			if a.status >= 500 {
				during5xx++
			}
		default:
			if a.status == http.StatusCreated && (firstOK.IsZero() || a.at.Before(firstOK)) {
				firstOK = a.at
			}
			if a.status >= 500 && !firstOK.IsZero() && a.at.After(firstOK) {
				after5xx++
			}
		}
	}
	if n := duringByStatus[http.StatusInternalServerError]; n > 0 {
		t.Errorf("%d answers were 500 while the database was down, want 503 with Retry-After", n)
	}
	if before5xx > 0 {
		t.Errorf("%d server errors before the database stopped", before5xx)
	}
	// Every acknowledged write survived the restart.
	lost := 0
	for _, id := range created {
		if status, _, err := send(t.Context(), client, http.MethodGet, videoURL+"/v1/videos/"+id, "", nil); err != nil || status != http.StatusOK {
			lost++
		}
	}
	if lost > 0 {
		t.Errorf("%d of %d acknowledged videos missing after the restart", lost, len(created))
	}
	report(t, "postgres restart (%v down): requests %d, acknowledged writes %d, lost %d; 5xx before %d, during the outage %d, after the first success %d",
		postgresOutage, total, len(created), lost, before5xx, during5xx, after5xx)
	report(t, "postgres restart: answers during the outage by status %v", duringByStatus)
	report(t, "postgres restart: first acknowledged write %v after the database started again", firstOK.Sub(startedAt).Round(time.Millisecond))
}
