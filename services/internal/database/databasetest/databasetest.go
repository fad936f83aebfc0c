// Package databasetest gives tests a fresh, migrated database on each backend
// the repository code must support, so one test suite proves a store works on
// SQLite and PostgreSQL alike.
//
// SQLite always runs. PostgreSQL runs when VIDSTREAM_TEST_POSTGRES_URL names a
// server and a role allowed to CREATE DATABASE, for example
//
//	VIDSTREAM_TEST_POSTGRES_URL=$(hack/postgres.sh start) go test ./...
//
// Each call gets a database of its own, so tests may run in parallel and
// never see each other's rows. When CI=true and the variable is unset the
// PostgreSQL tests fail instead of skipping: CI must not go green by quietly
// testing half the backends.
package databasetest

import (
	"io/fs"
	"path/filepath"
	"testing"

	"github.com/vidstream/vidstream/services/internal/database"
	"github.com/vidstream/vidstream/services/internal/telemetry"
)

// PostgresURLEnv names the environment variable with the PostgreSQL server
// the tests may create databases on.
const PostgresURLEnv = "VIDSTREAM_TEST_POSTGRES_URL"

// Backends lists every dialect the code must support, in the order
// ForEachBackend runs them.
func Backends() []database.Dialect {
	return []database.Dialect{database.SQLite, database.Postgres}
}

// ForEachBackend runs fn in one sub-test per backend, named "sqlite" and
// "postgres", each with a fresh database migrated from migrations.
func ForEachBackend(t *testing.T, migrations fs.FS, fn func(t *testing.T, db *database.DB)) {
	t.Helper()
	for _, d := range Backends() {
		t.Run(d.String(), func(t *testing.T) {
			fn(t, Open(t, d, migrations))
		})
	}
}

// URL returns the URL of a fresh, empty database of the given dialect,
// for code that opens its database itself (a whole service under test): a
// file in the test's temp directory for SQLite, a database of its own on
// the configured server for PostgreSQL (skipping or failing as the package
// doc describes without one).
func URL(tb testing.TB, d database.Dialect) string {
	tb.Helper()
	switch d {
	case database.SQLite:
		return "sqlite://" + filepath.Join(tb.TempDir(), "test.db")
	case database.Postgres:
		return PostgresURL(tb)
	}
	tb.Fatalf("databasetest: unknown dialect %q", d)
	return ""
}

// Open returns a fresh database of the given dialect, migrated from
// migrations (nil for none) and closed (and, for PostgreSQL, dropped) when
// the test ends. It skips or fails the test as the package doc describes when
// no PostgreSQL server is configured.
func Open(tb testing.TB, d database.Dialect, migrations fs.FS) *database.DB {
	tb.Helper()
	return OpenWithProviders(tb, d, migrations, telemetry.Noop())
}

// OpenWithProviders is Open with the telemetry providers the database is
// instrumented with, for tests that assert on database spans.
func OpenWithProviders(tb testing.TB, d database.Dialect, migrations fs.FS, p telemetry.Providers) *database.DB {
	tb.Helper()
	url := URL(tb, d)
	// A small pool: go test runs packages in parallel, each test gets a
	// database of its own, and together they must stay under the server's
	// max_connections.
	db, err := database.Open(tb.Context(), url, migrations, p, database.WithMaxOpenConns(4))
	if err != nil {
		tb.Fatalf("databasetest: open %s: %v", d, err)
	}
	tb.Cleanup(func() {
		if err := db.Close(); err != nil {
			tb.Errorf("databasetest: close %s: %v", d, err)
		}
	})
	return db
}

// OpenSQLite returns a fresh SQLite database in the test's temp directory.
func OpenSQLite(tb testing.TB, migrations fs.FS) *database.DB {
	tb.Helper()
	return Open(tb, database.SQLite, migrations)
}

// OpenPostgres returns a fresh PostgreSQL database, or skips (fails on CI)
// when none is configured.
func OpenPostgres(tb testing.TB, migrations fs.FS) *database.DB {
	tb.Helper()
	return Open(tb, database.Postgres, migrations)
}
