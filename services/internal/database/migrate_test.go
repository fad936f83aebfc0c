package database_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/vidstream/vidstream/services/internal/database"
	"github.com/vidstream/vidstream/services/internal/database/databasetest"
	"github.com/vidstream/vidstream/services/internal/telemetry"
)

// migration is a goose SQL migration that creates table and records one row
// in it, so a migration applied twice shows as a failed CREATE TABLE or as
// a second row.
func migration(table string) *fstest.MapFile {
	return &fstest.MapFile{Data: []byte("-- +goose Up\nCREATE TABLE " + table + " (id INTEGER PRIMARY KEY);\n" +
		"INSERT INTO " + table + " (id) VALUES (1);\n-- +goose Down\nDROP TABLE " + table + ";\n")}
}

// set returns a migration set with its own version table and lock whose
// migration N creates table <name>_N, in both dialects.
func set(name string, lockID int64, versions int) database.MigrationSet {
	fsys := fstest.MapFS{}
	for v := 1; v <= versions; v++ {
		table := fmt.Sprintf("%s_%d", name, v)
		for _, dir := range []string{"postgres", "sqlite"} {
			fsys[fmt.Sprintf("%s/%05d_%s.sql", dir, v, table)] = migration(table)
		}
	}
	return database.MigrationSet{Name: name, FS: fsys, VersionTable: name + "_goose_db_version", LockID: lockID}
}

func migrateOK(t *testing.T, db *database.DB, s database.MigrationSet) {
	t.Helper()
	if err := database.Migrate(t.Context(), db, s); err != nil {
		t.Fatalf("Migrate(%s): %v", s.Name, err)
	}
}

// version is the highest version goose recorded in table.
func version(t *testing.T, db *database.DB, table string) int64 {
	t.Helper()
	var v int64
	if err := db.QueryRowContext(t.Context(), "SELECT MAX(version_id) FROM "+table).Scan(&v); err != nil {
		t.Fatalf("version in %s: %v", table, err)
	}
	return v
}

// rows counts table's rows; each migration's table holds one.
func rows(t *testing.T, db *database.DB, table string) int {
	t.Helper()
	var n int
	if err := db.QueryRowContext(t.Context(), "SELECT COUNT(*) FROM "+table).Scan(&n); err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
}

func TestMigrateTwiceIsANoOp(t *testing.T) {
	databasetest.ForEachBackend(t, nil, func(t *testing.T, db *database.DB) {
		s := set("alpha", 1001, 2)
		for range 2 {
			migrateOK(t, db, s)
		}
		if v := version(t, db, s.VersionTable); v != 2 {
			t.Errorf("version = %d, want 2", v)
		}
		for _, table := range []string{"alpha_1", "alpha_2"} {
			if n := rows(t, db, table); n != 1 {
				t.Errorf("%s has %d rows, want 1 (migration applied once)", table, n)
			}
		}
	})
}

// TestMigrationSetsAreIndependent runs the service's schema (goose's
// default version table) and two more sets in one database, interleaved:
// each set's version 1 is applied although another set is at 1 or 2
// already, and a new migration in one set applies only that one.
func TestMigrationSetsAreIndependent(t *testing.T) {
	databasetest.ForEachBackend(t, migrations, func(t *testing.T, db *database.DB) {
		migrateOK(t, db, set("alpha", 1001, 2))
		migrateOK(t, db, set("beta", 1002, 1))
		// A new release of beta adds a migration; alpha and the schema
		// must not see it, and beta's first must not run again.
		migrateOK(t, db, set("beta", 1002, 2))
		migrateOK(t, db, set("alpha", 1001, 2))

		for table, want := range map[string]int64{"goose_db_version": 1, "alpha_goose_db_version": 2, "beta_goose_db_version": 2} {
			if v := version(t, db, table); v != want {
				t.Errorf("%s: version %d, want %d", table, v, want)
			}
		}
		rows(t, db, "items") // the schema's table is there
		for _, table := range []string{"alpha_1", "alpha_2", "beta_1", "beta_2"} {
			if n := rows(t, db, table); n != 1 {
				t.Errorf("%s has %d rows, want 1 (migration applied once)", table, n)
			}
		}
	})
}

// TestConcurrentMigrationSets starts several replicas on one empty
// PostgreSQL database at once, each migrating its schema and two more sets,
// as a rollout of a service with an outbox and an inbox does: every
// migration is applied exactly once and no replica fails on a half-created
// schema.
func TestConcurrentMigrationSets(t *testing.T) {
	url := databasetest.PostgresURL(t)
	alpha, beta := set("alpha", 1001, 2), set("beta", 1002, 2)
	const replicas = 4
	var wg sync.WaitGroup
	errs := make(chan error, replicas)
	for range replicas {
		wg.Go(func() {
			db, err := database.Open(t.Context(), url, migrations, telemetry.Noop(), database.WithMaxOpenConns(2))
			if err != nil {
				errs <- err
				return
			}
			defer func() { _ = db.Close() }()
			for _, s := range []database.MigrationSet{alpha, beta} {
				if err := database.Migrate(t.Context(), db, s); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("replica: %v", err)
		}
	}

	check, err := database.Open(t.Context(), url, nil, telemetry.Noop())
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { _ = check.Close() })
	for _, table := range []string{"alpha_1", "alpha_2", "beta_1", "beta_2"} {
		if n := rows(t, check, table); n != 1 {
			t.Errorf("%s has %d rows, want 1 (migration applied once)", table, n)
		}
	}
}

func TestMigrateErrors(t *testing.T) {
	db := databasetest.OpenSQLite(t, nil)
	t.Run("no migrations", func(t *testing.T) {
		err := database.Migrate(t.Context(), db, database.MigrationSet{Name: "alpha"})
		if err == nil || !strings.Contains(err.Error(), "migrate alpha") {
			t.Fatalf("got %v, want an error naming the set", err)
		}
	})
	t.Run("missing dialect directory", func(t *testing.T) {
		s := set("alpha", 1001, 1)
		s.FS = fstest.MapFS{"postgres/00001_alpha_1.sql": migration("alpha_1")}
		err := database.Migrate(t.Context(), db, s)
		if err == nil || !strings.Contains(err.Error(), "migrate alpha") || !strings.Contains(err.Error(), "sqlite/") {
			t.Fatalf("got %v, want an error naming the set and the sqlite/ directory", err)
		}
	})
	t.Run("broken migration", func(t *testing.T) {
		s := set("beta", 1002, 1)
		s.FS = fstest.MapFS{"sqlite/00001_broken.sql": {Data: []byte("-- +goose Up\nCREATE TABLE (;\n")}}
		err := database.Migrate(t.Context(), db, s)
		if err == nil || !strings.Contains(err.Error(), "migrate beta") || !strings.Contains(err.Error(), "00001_broken.sql") {
			t.Fatalf("got %v, want an error naming the set and the failing file", err)
		}
	})
}
