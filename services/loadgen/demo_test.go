package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/vidstream/vidstream/services/internal/kafkabus/kafkatest"
	"github.com/vidstream/vidstream/services/internal/service/servicetest"
	"github.com/vidstream/vidstream/services/internal/telemetry/telemetrytest"
	userapp "github.com/vidstream/vidstream/services/user/app"
	videoapp "github.com/vidstream/vidstream/services/video/app"
	historyapp "github.com/vidstream/vidstream/services/watch-history/app"
)

// TestDemoAndLoadAgainstTheServices runs `loadgen demo` and `loadgen load`
// against the real user, video and watch-history services (in this
// process, on ephemeral ports, over a real broker) and checks that every
// flow succeeds and that each flow's trace id, which loadgen reports, is
// the one the services recorded: loadgen's traceparent reached them.
func TestDemoAndLoadAgainstTheServices(t *testing.T) {
	sys := startSystem(t)
	otlp := newOTLPReceiver(t)
	args := func(cmd string, extra ...string) []string {
		return append([]string{"loadgen", cmd,
			"-user", sys.userURL, "-video", sys.videoURL, "-history", sys.historyURL,
			"-otlp", otlp.URL, "-jaeger", "http://127.0.0.1:1"}, extra...)
	}
	noEnv := func(string) string { return "" }

	t.Run("demo", func(t *testing.T) {
		reportPath := filepath.Join(t.TempDir(), "demo.json")
		var out bytes.Buffer
		if err := run(t.Context(), args("demo", "-waterfall=false", "-json", reportPath), noEnv, &out); err != nil {
			t.Fatalf("demo: %v\n%s", err, out.String())
		}
		b, err := os.ReadFile(reportPath)
		if err != nil {
			t.Fatal(err)
		}
		var report DemoReport
		if err := json.Unmarshal(b, &report); err != nil {
			t.Fatal(err)
		}
		if len(report.Flows) != 11 {
			t.Fatalf("%d flows, want 11:\n%s", len(report.Flows), out.String())
		}
		for _, f := range report.Flows {
			if f.Error != "" {
				t.Errorf("flow %q: %s", f.Name, f.Error)
			}
			if _, err := trace.TraceIDFromHex(f.TraceID); err != nil {
				t.Errorf("flow %q: trace id %q: %v", f.Name, f.TraceID, err)
			}
		}
		if n := len(report.Users); n != 3 || !report.Users[2].Deleted {
			t.Errorf("users = %+v, want 3, the last deleted", report.Users)
		}

		// The flow's root span went to loadgen's OTLP endpoint...
		watch := report.Flows[slices.IndexFunc(report.Flows, func(f FlowReport) bool { return f.Name == "watch to the end" })]
		if !slices.Contains(otlp.traceIDs(), watch.TraceID) {
			t.Errorf("loadgen exported no span of trace %s", watch.TraceID)
		}
		// ...and the services recorded their spans in the same trace.
		for name, rec := range map[string]*tracetest.SpanRecorder{"watch-history": sys.historySpans, "user": sys.userSpans, "video": sys.videoSpans} {
			if !recorded(rec, watch.TraceID) {
				t.Errorf("%s recorded no span of the PUT's trace %s", name, watch.TraceID)
			}
		}
		for _, want := range []string{"1. sign up", "11. log out", "watch to the end", "/trace/" + watch.TraceID} {
			if !bytes.Contains(out.Bytes(), []byte(want)) {
				t.Errorf("demo output lacks %q", want)
			}
		}
	})

	t.Run("load", func(t *testing.T) {
		var out bytes.Buffer
		err := run(t.Context(), args("load", "-json", "-duration", "500ms", "-workers", "4", "-users", "2", "-videos", "3"), noEnv, &out)
		if err != nil {
			t.Fatalf("load: %v", err)
		}
		var r LoadReport
		if err := json.Unmarshal(out.Bytes(), &r); err != nil {
			t.Fatalf("load -json: %v\n%s", err, out.String())
		}
		if r.Model != "closed" || r.Workers != 4 || r.Requests == 0 || r.Errors != 0 {
			t.Errorf("load report: %+v", r)
		}
	})
}

func recorded(rec *tracetest.SpanRecorder, traceID string) bool {
	for _, s := range rec.Ended() {
		if s.SpanContext().TraceID().String() == traceID {
			return true
		}
	}
	return false
}

// system is the three services, in process.
type system struct {
	userURL, videoURL, historyURL       string
	userSpans, videoSpans, historySpans *tracetest.SpanRecorder
}

func startSystem(t *testing.T) *system {
	t.Helper()
	brokers := kafkatest.Broker(t)
	dir := t.TempDir()
	up, userSpans := telemetrytest.New(t)
	vp, videoSpans := telemetrytest.New(t)
	hp, historySpans := telemetrytest.New(t)

	ua, err := userapp.New(t.Context(), userapp.Config{
		Base: servicetest.Base(t, "sqlite://"+filepath.Join(dir, "user.db"), brokers),
		// The cheapest argon2id the service accepts: this test signs up
		// accounts, it does not measure hashing.
		Argon2MemoryKiB: 8, Argon2Iterations: 1, Argon2Parallelism: 1,
	}, up)
	if err != nil {
		t.Fatal(err)
	}
	servicetest.Run(t, "user", ua.Run)
	va, err := videoapp.New(t.Context(), videoapp.Config{
		Base:         servicetest.Base(t, "sqlite://"+filepath.Join(dir, "video.db"), brokers),
		UserGRPCAddr: ua.GRPCAddr(),
	}, vp)
	if err != nil {
		t.Fatal(err)
	}
	servicetest.Run(t, "video", va.Run)
	ha, err := historyapp.New(t.Context(), historyapp.Config{
		Base:          servicetest.Base(t, "sqlite://"+filepath.Join(dir, "watch-history.db"), brokers),
		UserGRPCAddr:  ua.GRPCAddr(),
		VideoGRPCAddr: va.GRPCAddr(),
	}, hp)
	if err != nil {
		t.Fatal(err)
	}
	servicetest.Run(t, "watch-history", ha.Run)

	return &system{
		userURL: "http://" + ua.HTTPAddr(), videoURL: "http://" + va.HTTPAddr(), historyURL: "http://" + ha.HTTPAddr(),
		userSpans: userSpans, videoSpans: videoSpans, historySpans: historySpans,
	}
}

// otlpReceiver is an OTLP/HTTP endpoint recording the trace ids of the
// spans it receives.
type otlpReceiver struct {
	*httptest.Server
	mu  sync.Mutex
	ids []string
}

func newOTLPReceiver(t *testing.T) *otlpReceiver {
	t.Helper()
	r := &otlpReceiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, err := io.ReadAll(req.Body)
		if err != nil || req.URL.Path != "/v1/traces" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		var msg coltracepb.ExportTraceServiceRequest
		if err := proto.Unmarshal(body, &msg); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		for _, rs := range msg.GetResourceSpans() {
			for _, ss := range rs.GetScopeSpans() {
				for _, s := range ss.GetSpans() {
					r.ids = append(r.ids, hex.EncodeToString(s.GetTraceId()))
				}
			}
		}
		r.mu.Unlock()
		resp, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(resp)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *otlpReceiver) traceIDs() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.ids)
}
