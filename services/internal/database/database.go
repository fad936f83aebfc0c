package database

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/XSAM/otelsql"
	"go.opentelemetry.io/otel/metric"

	"github.com/vidstream/vidstream/services/internal/telemetry"
)

// DB is a connection pool plus the dialect behind it. The embedded *sql.DB is
// instrumented: every query made through it, or through a *sql.Tx from it,
// produces a span that is a child of the span in the query's context.
type DB struct {
	*sql.DB
	Dialect Dialect

	// stats reports pool metrics (open, idle, waits) until Close.
	stats metric.Registration
}

// Option tunes Open. The defaults suit a service; tests rarely need these.
type Option func(*options)

type options struct {
	pingTimeout  time.Duration
	maxOpenConns int
}

// WithPingTimeout bounds how long Open waits for the database to answer.
// Default 5 s: a service that cannot reach its database should fail fast and
// let the orchestrator restart it, not hang its startup probe.
func WithPingTimeout(d time.Duration) Option {
	return func(o *options) { o.pingTimeout = d }
}

// WithMaxOpenConns caps the connection pool (default 10). SQLite's
// ":memory:" database always uses exactly one connection.
func WithMaxOpenConns(n int) Option {
	return func(o *options) { o.maxOpenConns = n }
}

// Open connects to the database named by url, checks that it answers, and
// applies the dialect's migrations from the postgres/ or sqlite/ directory of
// migrations (nil skips migrating) as the service's own schema: the
// MigrationSet with goose's default version table. Shared packages migrate
// their own sets afterwards (outbox.Migrate, kafkabus.MigrateInbox).
//
// Accepted URLs: postgres://user:pass@host:port/db?sslmode=... (also
// postgresql://), sqlite://relative/path.db, sqlite:///absolute/path.db and
// sqlite://:memory:. Errors never contain the password.
func Open(ctx context.Context, url string, migrations fs.FS, p telemetry.Providers, opts ...Option) (*DB, error) {
	o := options{pingTimeout: 5 * time.Second, maxOpenConns: 10}
	for _, opt := range opts {
		opt(&o)
	}
	t, err := parseURL(url)
	if err != nil {
		return nil, err
	}
	p = p.OrNoop()

	var db *DB
	switch t.dialect {
	case Postgres:
		db, err = openPostgres(ctx, t, p, o)
	case SQLite:
		db, err = openSQLite(ctx, t, p, o)
	}
	if err != nil {
		return nil, t.redact(err)
	}

	if migrations != nil {
		if err := Migrate(ctx, db, MigrationSet{Name: "schema", FS: migrations}); err != nil {
			return nil, errors.Join(t.redact(err), db.Close())
		}
	}
	reg, err := otelsql.RegisterDBStatsMetrics(db.DB, otelOptions(db.Dialect, p)...)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("register database pool metrics: %w", err), db.Close())
	}
	db.stats = reg
	return db, nil
}

// Close stops the pool metrics and closes every connection. Queries still
// running finish first (database/sql waits for them).
func (db *DB) Close() error {
	var errs []error
	if db.stats != nil {
		if err := db.stats.Unregister(); err != nil {
			errs = append(errs, fmt.Errorf("unregister database pool metrics: %w", err))
		}
	}
	if err := db.DB.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close database: %w", err))
	}
	return errors.Join(errs...)
}

// ping checks the pool can reach the database within the ping timeout.
// where names the target without credentials ("host:port", a file path).
func ping(ctx context.Context, db *sql.DB, timeout time.Duration, where string) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		return fmt.Errorf("database unreachable at %s: %w", where, err)
	}
	return nil
}
