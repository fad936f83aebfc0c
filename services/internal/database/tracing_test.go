package database_test

import (
	"database/sql"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/vidstream/vidstream/services/internal/database"
	"github.com/vidstream/vidstream/services/internal/database/databasetest"
	"github.com/vidstream/vidstream/services/internal/telemetry/telemetrytest"
)

func TestQueriesAreTraced(t *testing.T) {
	for _, d := range databasetest.Backends() {
		t.Run(d.String(), func(t *testing.T) {
			p, spans := telemetrytest.New(t)
			db := databasetest.OpenWithProviders(t, d, migrations, p)

			ctx, parent := p.Tracer.Tracer("test").Start(t.Context(), "request")
			err := db.InTx(ctx, func(tx *sql.Tx) error {
				return insertItem(ctx, tx, 1, "a", database.Timestamp(time.Now()))
			})
			if err != nil {
				t.Fatalf("insert: %v", err)
			}
			var n int
			if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM items WHERE id = $1`, int64(1)).Scan(&n); err != nil {
				t.Fatalf("select: %v", err)
			}
			parent.End()

			want := map[string]bool{"BEGIN": false, "INSERT": false, "COMMIT": false, "SELECT": false}
			system := map[database.Dialect]string{database.Postgres: "postgresql", database.SQLite: "sqlite"}[d]
			for _, s := range spans.Ended() {
				if s.Parent().SpanID() != parent.SpanContext().SpanID() {
					continue // migrations and connection set-up at Open
				}
				if _, ok := want[s.Name()]; !ok {
					continue
				}
				want[s.Name()] = true
				attrs := attribute.NewSet(s.Attributes()...)
				if v, _ := attrs.Value("db.system.name"); v.AsString() != system {
					t.Errorf("span %s: db.system.name = %q, want %q", s.Name(), v.AsString(), system)
				}
				if s.SpanKind() != trace.SpanKindClient {
					t.Errorf("span %s: kind %v, want client", s.Name(), s.SpanKind())
				}
				if s.Name() == "SELECT" {
					if v, _ := attrs.Value("db.operation.name"); v.AsString() != "SELECT" {
						t.Errorf("SELECT span: db.operation.name = %q", v.AsString())
					}
					if v, _ := attrs.Value("db.query.text"); v.AsString() == "" {
						t.Error("SELECT span: no db.query.text")
					}
				}
			}
			for name, seen := range want {
				if !seen {
					t.Errorf("no %s span under the request span", name)
				}
			}
		})
	}
}

// A query outside any span must not start a trace of its own: background
// pollers would otherwise flood the tracing backend with one-span traces.
func TestQueriesWithoutParentSpanAreNotTraced(t *testing.T) {
	for _, d := range databasetest.Backends() {
		t.Run(d.String(), func(t *testing.T) {
			p, spans := telemetrytest.New(t)
			db := databasetest.OpenWithProviders(t, d, migrations, p)
			before := len(spans.Ended())

			var n int
			if err := db.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM items`).Scan(&n); err != nil {
				t.Fatalf("select: %v", err)
			}
			if got := spans.Ended()[before:]; len(got) != 0 {
				t.Errorf("query without a parent span produced %d spans, first %q", len(got), got[0].Name())
			}
		})
	}
}
