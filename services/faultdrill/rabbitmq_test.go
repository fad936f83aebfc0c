package faultdrill

import (
	"context"
	"database/sql"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/go-chi/chi/v5"
	"google.golang.org/protobuf/proto"

	"github.com/vidstream/vidstream/services/api/events"
	jobsv1 "github.com/vidstream/vidstream/services/api/jobs/v1"
	"github.com/vidstream/vidstream/services/internal/loopback"
	"github.com/vidstream/vidstream/services/internal/outbox"
	"github.com/vidstream/vidstream/services/internal/service"
	"github.com/vidstream/vidstream/services/internal/service/servicetest"
	"github.com/vidstream/vidstream/services/internal/telemetry"
	"github.com/vidstream/vidstream/services/internal/workqueue"
)

// rabbitmq runs hack/rabbitmq.sh for a broker of the drill's own (its own
// data directory and ports), never the shared test broker: restarting that
// one would break every other test using it.
type rabbitmq struct {
	t    *testing.T
	root string
	env  []string
}

func (r rabbitmq) run(verb string) string {
	r.t.Helper()
	cmd := exec.CommandContext(context.Background(), "hack/rabbitmq.sh", verb)
	cmd.Dir, cmd.Env = r.root, r.env
	out, err := cmd.Output()
	if err != nil {
		r.t.Fatalf("hack/rabbitmq.sh %s: %v", verb, err)
	}
	return strings.TrimSpace(string(out))
}

// jobSender is the smallest service that sends jobs through the outbox:
// POST /v1/jobs/{id} stores a row and, in the same transaction, enqueues a
// TranscodeRequested job for it, and answers 201 once both committed.
func jobSender(queue string) service.Spec {
	return service.Spec{
		Name: "drill-sender",
		Migrations: fstest.MapFS{"sqlite/00001_requests.sql": {Data: []byte(
			"-- +goose Up\nCREATE TABLE requests (id TEXT PRIMARY KEY);\n-- +goose Down\nDROP TABLE requests;\n")}},
		Sends: []string{queue},
		Build: func(_ context.Context, k *service.Kit) (service.Parts, error) {
			return service.Parts{HTTP: func(r chi.Router) http.Handler {
				r.Post("/v1/jobs/{id}", func(w http.ResponseWriter, req *http.Request) {
					id := chi.URLParam(req, "id")
					err := k.DB.InTx(req.Context(), func(tx *sql.Tx) error {
						if _, err := tx.ExecContext(req.Context(), `INSERT INTO requests (id) VALUES ($1)`, id); err != nil {
							return err
						}
						return k.Jobs.Enqueue(req.Context(), tx, outbox.Event{Queue: queue, Key: id,
							Payload: &jobsv1.TranscodeRequested{VideoId: id, DurationSeconds: 1}})
					})
					if err != nil {
						http.Error(w, err.Error(), http.StatusInternalServerError)
						return
					}
					k.Jobs.Notify()
					w.WriteHeader(http.StatusCreated)
				})
				return r
			}}, nil
		},
	}
}

// TestRabbitMQRestartUnderLoad: a service keeps enqueuing jobs through its
// outbox at a steady rate while RabbitMQ is restarted (hack/rabbitmq.sh
// restart: a clean stop and start of the node), and a worker service
// consumes them. Promised: every request is acknowledged (the outbox holds
// the jobs while the broker is away), the job relay and the worker
// reconnect by themselves, and every acknowledged job reaches the worker.
//
// It needs rabbitmq-server installed (hack/rabbitmq.sh, as CI does), and
// runs a broker of its own.
func TestRabbitMQRestartUnderLoad(t *testing.T) {
	gate(t)
	if _, err := os.Stat("/usr/lib/rabbitmq/bin/rabbitmq-server"); err != nil {
		t.Skip("rabbitmq-server is not installed (hack/rabbitmq.sh start installs it)")
	}
	gomod, err := exec.CommandContext(t.Context(), "go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	// The node's distribution port is its AMQP port + 20000
	// (hack/rabbitmq.sh), so the AMQP port must leave room for it.
	var port string
	for range 100 {
		if p := loopback.FreePort(t); p+20000 <= 65535 {
			port = strconv.Itoa(p)
			break
		}
	}
	if port == "" {
		t.Fatal("no free port below 45536 for the drill's broker")
	}
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "RABBITMQ_") {
			env = append(env, kv)
		}
	}
	mq := rabbitmq{t: t, root: root, env: append(env,
		"RABBITMQ_PORT="+port,
		"RABBITMQ_EPMD_PORT="+strconv.Itoa(loopback.FreePort(t)),
		// Under the repository's git-ignored .data, which the broker's
		// user can reach (a test's temporary directory is private to its
		// user).
		"RABBITMQ_DATA_DIR="+filepath.Join(root, ".data", "rabbitmq-drill-"+port))}
	// Registered first: a node that failed to start is cleaned up too.
	t.Cleanup(func() { mq.run("clean") })
	url := mq.run("start")

	dir := t.TempDir()
	client := &http.Client{Timeout: 30 * time.Second}
	queue := events.TranscodeQueue
	base := servicetest.Base(t, "sqlite://"+filepath.Join(dir, "sender.db"), []string{"127.0.0.1:1"})
	base.RabbitMQURL = url
	sender, err := service.New(t.Context(), jobSender(queue), base, telemetry.Noop())
	if err != nil {
		t.Fatal(err)
	}
	servicetest.Run(t, "sender", sender.Run)

	var (
		mu        sync.Mutex
		delivered = map[string]int{}
		lastAt    time.Time
	)
	workerBase := base
	workerBase.DatabaseURL = "sqlite://" + filepath.Join(dir, "worker.db")
	worker, err := service.New(t.Context(), service.Spec{
		Name: "drill-worker",
		Build: func(context.Context, *service.Kit) (service.Parts, error) {
			return service.Parts{HTTP: func(r chi.Router) http.Handler { return r },
				Jobs: []service.JobConsumer{{Queue: queue, Prefetch: 8, RetryDelay: time.Second,
					Handle: func(_ context.Context, m workqueue.Message) error {
						var job jobsv1.TranscodeRequested
						if err := proto.Unmarshal(m.Body, &job); err != nil {
							return workqueue.Permanent(err)
						}
						mu.Lock()
						delivered[job.GetVideoId()]++
						lastAt = time.Now()
						mu.Unlock()
						return nil
					}}}}, nil
		},
	}, workerBase, telemetry.Noop())
	if err != nil {
		t.Fatal(err)
	}
	servicetest.Run(t, "worker", worker.Run)
	senderURL := "http://" + sender.HTTPAddr()

	// Four clients, 25 jobs a second each.
	const workers, rate = 4, 25
	var (
		acked    = map[string]time.Time{}
		failures = map[int]int{}
	)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			tick := time.NewTicker(time.Second / rate) // the load's pace, not a synchronisation
			defer tick.Stop()
			for i := 0; ctx.Err() == nil; i++ {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
				id := "job-" + strconv.Itoa(w) + "-" + strconv.Itoa(i)
				status, _, err := send(ctx, client, http.MethodPost, senderURL+"/v1/jobs/"+id, "", nil)
				mu.Lock()
				switch {
				case err != nil:
					if ctx.Err() == nil {
						failures[-1]++
					}
				case status == http.StatusCreated:
					acked[id] = time.Now()
				default:
					failures[status]++
				}
				mu.Unlock()
			}
		})
	}
	defer func() { cancel(); wg.Wait() }()
	ackedCount := func() int { mu.Lock(); defer mu.Unlock(); return len(acked) }
	deliveredCount := func() int { mu.Lock(); defer mu.Unlock(); return len(delivered) }

	until(t, time.Minute, "jobs delivered before the restart", func() bool { return deliveredCount() >= 100 })
	beforeRestart := ackedCount()
	restartAt := time.Now()
	mq.run("restart") // returns once the node accepts connections again
	upAt := time.Now()
	duringRestart := ackedCount() - beforeRestart
	deliveredAtUp := deliveredCount()
	// The first job delivered after the broker is back: the job relay
	// and the worker have both reconnected.
	var firstAfter time.Time
	until(t, 2*time.Minute, "a job delivered after the restart", func() bool {
		mu.Lock()
		defer mu.Unlock()
		if len(delivered) > deliveredAtUp {
			firstAfter = lastAt
			return true
		}
		return false
	})
	until(t, time.Minute, "jobs after the restart", func() bool { return ackedCount() >= beforeRestart+duringRestart+100 })
	cancel()
	wg.Wait()

	var allAt time.Time
	missing := 0
	until(t, 2*time.Minute, "every acknowledged job delivered", func() bool {
		mu.Lock()
		defer mu.Unlock()
		missing = 0
		for id := range acked {
			if delivered[id] == 0 {
				missing++
			}
		}
		allAt = time.Now()
		return missing == 0
	})
	mu.Lock()
	defer mu.Unlock()
	duplicates := 0
	for _, n := range delivered {
		duplicates += n - 1
	}
	if len(failures) > 0 {
		t.Errorf("requests that failed: %v (status: count), want none: the outbox holds jobs while RabbitMQ is down", failures)
	}
	report(t, "rabbitmq restart (%v stop to ready): jobs acknowledged %d (before %d, during the restart %d), failed %d",
		upAt.Sub(restartAt).Round(time.Millisecond), len(acked), beforeRestart, duringRestart, sumValues(failures))
	report(t, "rabbitmq restart: jobs delivered %d distinct, %d duplicate deliveries, acknowledged but lost %d",
		len(delivered), duplicates, missing)
	report(t, "rabbitmq restart: first job delivered %v after the broker was ready; every job delivered %v after it (load stopped first)",
		firstAfter.Sub(upAt).Round(time.Millisecond), allAt.Sub(upAt).Round(time.Millisecond))
}
