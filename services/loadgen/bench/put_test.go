package bench

import (
	"context"
	"math/rand/v2"
	"net/http/httptest"
	"testing"

	"github.com/vidstream/vidstream/services/internal/database"
	"github.com/vidstream/vidstream/services/internal/database/databasetest"
	"github.com/vidstream/vidstream/services/internal/telemetry"
	"github.com/vidstream/vidstream/services/loadgen/bench/internal/bare"
	"github.com/vidstream/vidstream/services/loadgen/internal/api"
)

// The PUT fixture: progress reports spread over putUsers×putVideos
// entries, so concurrent reports rarely race for one entry (the service
// would retry those, the bare upsert would not notice).
const (
	putUsers  = 50
	putVideos = 50
)

// putTarget sends progress reports to one implementation of
// PUT /v1/history/{video_id}.
type putTarget struct {
	client *api.Client
	fx     *fixture
}

// put reports a random position of a random video for a random user.
func (t *putTarget) put(ctx context.Context) error {
	u, v := rand.IntN(len(t.fx.tokens)), rand.IntN(len(t.fx.videos))
	video := t.fx.videos[v]
	_, err := t.client.PutProgress(ctx, t.fx.tokens[u], video.id, rand.IntN(video.duration+1))
	return err
}

// BenchmarkPutProgress compares PUT /v1/history/{video_id} through the
// three services with a bare chi handler doing one upsert on the same kind
// of database (package bare):
//
//	path=bare     the baseline, in this process, over HTTP on loopback
//	path=service  watch-history: REST, token check (gRPC to user), video
//	              lookup (gRPC to video), one transaction with the entry
//	              and its events in the outbox; tracing off
//	path=traced   the same with every span recorded and exported (OTLP)
//
// and for each path, load=saturation (closed model, 32 loops: req/s and
// allocs/op, whole process) then load=half (open model at half the
// saturation rate just measured: p50-ms, p99-ms).
//
//	go test ./services/loadgen/bench -run '^$' -bench PutProgress -benchtime 10000x
func BenchmarkPutProgress(b *testing.B) {
	for _, d := range dialects() {
		b.Run("db="+d.String(), func(b *testing.B) {
			b.Run("path=bare", func(b *testing.B) { runPut(b, bareTarget(b, d)) })
			b.Run("path=service", func(b *testing.B) { runPut(b, serviceTarget(b, d, tracingOff)) })
			b.Run("path=traced", func(b *testing.B) { runPut(b, serviceTarget(b, d, tracingOn)) })
		})
	}
}

func runPut(b *testing.B, t *putTarget) {
	b.Run("load=saturation", func(b *testing.B) { rememberSaturation(b, saturate(b, "req/s", t.put)) })
	b.Run("load=half", func(b *testing.B) { openLoad(b, halfRate(b, t.put), t.put) })
}

// bareTarget serves package bare's handler over a database of dialect d,
// opened as the services open theirs (same driver settings and pool), with
// no telemetry.
func bareTarget(tb testing.TB, d database.Dialect) *putTarget {
	tb.Helper()
	db, err := database.Open(tb.Context(), databasetest.URL(tb, d), nil, telemetry.Noop())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = db.Close() })
	if err := bare.Migrate(tb.Context(), db.DB); err != nil {
		tb.Fatal(err)
	}
	srv := httptest.NewServer(bare.NewHandler(db.DB))
	tb.Cleanup(srv.Close)
	return &putTarget{
		client: &api.Client{HistoryURL: srv.URL, HTTP: newHTTPClient(tb)},
		fx:     bareFixture(putUsers, putVideos, bare.Duration),
	}
}

// serviceTarget starts the three services and their fixture.
func serviceTarget(tb testing.TB, d database.Dialect, mode tracing) *putTarget {
	tb.Helper()
	sys := startSystem(tb, systemConfig{db: d, tracing: mode})
	return &putTarget{client: sys.client, fx: newFixture(tb, sys.client, putUsers, putVideos)}
}
