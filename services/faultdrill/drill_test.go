package faultdrill

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/vidstream/vidstream/services/internal/kafkabus/kafkatest"
	"github.com/vidstream/vidstream/services/internal/service"
	"github.com/vidstream/vidstream/services/internal/service/servicetest"
	"github.com/vidstream/vidstream/services/internal/telemetry"
	userapp "github.com/vidstream/vidstream/services/user/app"
)

func gate(t *testing.T) {
	t.Helper()
	if os.Getenv("VIDSTREAM_FAULTDRILL") == "" && !kafkatest.IsReal() {
		t.Skip("fault drills run with VIDSTREAM_FAULTDRILL=1 or the real test servers (hack/kafka.sh, hack/postgres.sh)")
	}
}

// sample is one answer the load driver got.
type sample struct {
	at         time.Time
	status     int
	retryAfter string
	latency    time.Duration
}

// recorder keeps every sample, safe for concurrent drivers.
type recorder struct {
	mu      sync.Mutex
	samples []sample
}

func (r *recorder) add(s sample) {
	r.mu.Lock()
	r.samples = append(r.samples, s)
	r.mu.Unlock()
}

func (r *recorder) snapshot() []sample {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.samples)
}

// until polls cond every 10 ms until it holds, failing t after limit.
func until(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, limit)
		}
		time.Sleep(10 * time.Millisecond) // polling interval
	}
}

// drive runs workers that each send req in a loop until ctx ends.
func drive(ctx context.Context, workers int, client *http.Client, req func(context.Context) (*http.Request, error), rec *recorder) *sync.WaitGroup {
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for ctx.Err() == nil {
				r, err := req(ctx)
				if err != nil {
					return
				}
				start := time.Now()
				resp, err := client.Do(r)
				if err != nil {
					if ctx.Err() == nil {
						rec.add(sample{at: start, status: -1, latency: time.Since(start)})
					}
					continue
				}
				_ = resp.Body.Close()
				rec.add(sample{at: start, status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"), latency: time.Since(start)})
			}
		})
	}
	return &wg
}

func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	return ds[min(len(ds)-1, int(float64(len(ds))*p))]
}

// runApp runs a service until stop is called, returning Run's error.
func runApp(a *service.App) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	var once sync.Once
	var err error
	return func() error {
		once.Do(func() {
			cancel()
			err = <-done
			if errors.Is(err, context.Canceled) {
				err = nil
			}
		})
		return err
	}
}

func postJSON(t *testing.T, client *http.Client, url string, body any, want int) []byte {
	t.Helper()
	b, _ := json.Marshal(body)
	resp, err := client.Post(url, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer func() { _ = resp.Body.Close() }()
	var out bytes.Buffer
	_, _ = out.ReadFrom(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("POST %s: %d %s", url, resp.StatusCode, out.Bytes())
	}
	return out.Bytes()
}

func newUserApp(t *testing.T, dir string, brokers []string, grpcAddr string) *service.App {
	t.Helper()
	base := servicetest.Base(t, "sqlite://"+filepath.Join(dir, "user.db"), brokers)
	base.GRPCAddr = grpcAddr
	a, err := userapp.New(t.Context(), userapp.Config{
		Base: base, Argon2MemoryKiB: 8, Argon2Iterations: 1, Argon2Parallelism: 1,
	}, telemetry.Noop())
	if err != nil {
		t.Fatalf("start user service: %v", err)
	}
	return a
}

func login(t *testing.T, client *http.Client, userURL string) string {
	t.Helper()
	email := "drill-" + uuid.NewString() + "@example.com"
	const password = "correct horse battery"
	postJSON(t, client, userURL+"/v1/users", map[string]string{"email": email, "password": password, "display_name": "Driller"}, http.StatusCreated)
	var sess struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(postJSON(t, client, userURL+"/v1/sessions", map[string]string{"email": email, "password": password}, http.StatusCreated), &sess); err != nil {
		t.Fatal(err)
	}
	return sess.Token
}

func report(t *testing.T, format string, args ...any) {
	t.Helper()
	t.Logf("FIGURE "+format, args...)
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

// environ is the process environment without the shared test servers'
// variables, for scripts that must not touch them.
func environ() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "POSTGRES_") && !strings.HasPrefix(kv, "KAFKA_") {
			env = append(env, kv)
		}
	}
	return env
}
