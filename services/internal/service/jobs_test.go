package service_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/go-chi/chi/v5"
	"google.golang.org/protobuf/proto"

	"github.com/vidstream/vidstream/services/api/events"
	jobsv1 "github.com/vidstream/vidstream/services/api/jobs/v1"
	"github.com/vidstream/vidstream/services/internal/kafkabus/kafkatest"
	"github.com/vidstream/vidstream/services/internal/outbox"
	"github.com/vidstream/vidstream/services/internal/service"
	"github.com/vidstream/vidstream/services/internal/service/servicetest"
	"github.com/vidstream/vidstream/services/internal/telemetry"
	"github.com/vidstream/vidstream/services/internal/workqueue"
	"github.com/vidstream/vidstream/services/internal/workqueue/workqueuetest"
)

// A service that sends jobs (Spec.Sends, Kit.Jobs) and one that works them
// off (Parts.Jobs), both on the skeleton: a job enqueued in a transaction
// reaches the worker through the outbox's job relay and RabbitMQ.
func TestJobsFlowFromOutboxToWorker(t *testing.T) {
	url := workqueuetest.URL(t)
	queue := workqueuetest.Topology(t, url, events.TranscodeQueue, 0).Queue
	base := servicetest.Base(t, "sqlite://"+filepath.Join(t.TempDir(), "sender.db"), []string{"127.0.0.1:1"})
	base.RabbitMQURL = url
	if err := service.ApplyDefaults(t.Context(), &base); err != nil {
		t.Fatal(err)
	}

	var kit *service.Kit
	sender := service.Spec{
		Name:       "sender",
		Migrations: fstest.MapFS{"sqlite/00001_x.sql": {Data: []byte("-- +goose Up\nCREATE TABLE x (id TEXT);\n-- +goose Down\nDROP TABLE x;\n")}},
		Sends:      []string{queue},
		Build: func(_ context.Context, k *service.Kit) (service.Parts, error) {
			kit = k
			return service.Parts{HTTP: func(r chi.Router) http.Handler { return r }}, nil
		},
	}
	a, err := service.New(t.Context(), sender, base, telemetry.Noop())
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if kit.Jobs == nil {
		t.Fatal("Kit.Jobs is nil with RABBITMQ_URL set and a queue in Sends")
	}
	servicetest.Run(t, "sender", a.Run)

	var mu sync.Mutex
	var got []*jobsv1.TranscodeRequested
	workerBase := base
	workerBase.DatabaseURL = "sqlite://" + filepath.Join(t.TempDir(), "worker.db")
	worker := service.Spec{
		Name: "worker",
		Build: func(context.Context, *service.Kit) (service.Parts, error) {
			return service.Parts{
				HTTP: func(r chi.Router) http.Handler { return r },
				Jobs: []service.JobConsumer{{Queue: queue, Prefetch: 2, RetryDelay: time.Second,
					Handle: func(_ context.Context, m workqueue.Message) error {
						var job jobsv1.TranscodeRequested
						if err := proto.Unmarshal(m.Body, &job); err != nil {
							return workqueue.Permanent(err)
						}
						mu.Lock()
						got = append(got, &job)
						mu.Unlock()
						return nil
					}}},
			}, nil
		},
	}
	w, err := service.New(t.Context(), worker, workerBase, telemetry.Noop())
	if err != nil {
		t.Fatalf("New worker: %v", err)
	}
	servicetest.Run(t, "worker", w.Run)

	err = kit.DB.InTx(t.Context(), func(tx *sql.Tx) error {
		return kit.Jobs.Enqueue(t.Context(), tx, outbox.Event{Queue: queue, Key: "v1", Payload: &jobsv1.TranscodeRequested{VideoId: "v1", DurationSeconds: 7}})
	})
	if err != nil {
		t.Fatal(err)
	}
	kit.Jobs.Notify()
	kafkatest.Eventually(t, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(got) != 1 || got[0].GetVideoId() != "v1" {
			return errorf("jobs handled: %v", got)
		}
		return nil
	})
}

// Without RABBITMQ_URL the job queue is off: Kit.Jobs is nil, and workers
// are refused.
func TestJobQueueOffWithoutURL(t *testing.T) {
	base := servicetest.Base(t, "sqlite://"+filepath.Join(t.TempDir(), "x.db"), []string{"127.0.0.1:1"})
	var jobs outbox.Writer
	spec := service.Spec{
		Name:       "x",
		Migrations: fstest.MapFS{"sqlite/00001_x.sql": {Data: []byte("-- +goose Up\nCREATE TABLE x (id TEXT);\n-- +goose Down\nDROP TABLE x;\n")}},
		Sends:      []string{"q"},
		Build: func(_ context.Context, k *service.Kit) (service.Parts, error) {
			jobs = k.Jobs
			return service.Parts{HTTP: func(r chi.Router) http.Handler { return r }}, nil
		},
	}
	if _, err := service.New(t.Context(), spec, base, telemetry.Noop()); err != nil {
		t.Fatal(err)
	}
	if jobs != nil {
		t.Error("Kit.Jobs is set without RABBITMQ_URL")
	}
	spec.Name = "y"
	spec.Build = func(context.Context, *service.Kit) (service.Parts, error) {
		return service.Parts{HTTP: func(r chi.Router) http.Handler { return r },
			Jobs: []service.JobConsumer{{Queue: "q", Handle: func(context.Context, workqueue.Message) error { return nil }}}}, nil
	}
	if _, err := service.New(t.Context(), spec, base, telemetry.Noop()); err == nil {
		t.Error("New accepted workers without RABBITMQ_URL")
	}
}

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }
