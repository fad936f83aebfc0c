package database_test

import (
	"context"
	"database/sql"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/vidstream/vidstream/services/internal/database"
	"github.com/vidstream/vidstream/services/internal/database/databasetest"
	"github.com/vidstream/vidstream/services/internal/telemetry"
)

// migrations is a small schema in both dialects, written the way service
// migrations are: TIMESTAMPTZ on PostgreSQL, TIMESTAMP on SQLite.
var migrations = fstest.MapFS{
	"postgres/00001_init.sql": {Data: []byte(`-- +goose Up
CREATE TABLE items (
	id         BIGINT PRIMARY KEY,
	name       TEXT NOT NULL UNIQUE,
	counter    BIGINT NOT NULL DEFAULT 0,
	created_at TIMESTAMPTZ NOT NULL
);
-- +goose Down
DROP TABLE items;
`)},
	"sqlite/00001_init.sql": {Data: []byte(`-- +goose Up
CREATE TABLE items (
	id         INTEGER PRIMARY KEY,
	name       TEXT NOT NULL UNIQUE,
	counter    INTEGER NOT NULL DEFAULT 0,
	created_at TIMESTAMP NOT NULL
);
-- +goose Down
DROP TABLE items;
`)},
}

func insertItem(ctx context.Context, q interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}, id int64, name string, at time.Time) error {
	_, err := q.ExecContext(ctx, `INSERT INTO items (id, name, created_at) VALUES ($1, $2, $3)`, id, name, at)
	return err
}

func TestPlaceholders(t *testing.T) {
	databasetest.ForEachBackend(t, migrations, func(t *testing.T, db *database.DB) {
		ctx := t.Context()
		if err := insertItem(ctx, db, 1, "a", database.Timestamp(time.Now())); err != nil {
			t.Fatalf("insert: %v", err)
		}
		// $1 used twice, as repositories do in upserts and keyset queries.
		var name string
		err := db.QueryRowContext(ctx, `SELECT name FROM items WHERE id = $1 AND counter < $2 AND id >= $1`, int64(1), int64(5)).Scan(&name)
		if err != nil || name != "a" {
			t.Fatalf("query with $1 reused: name %q, err %v", name, err)
		}
	})
}

func TestTimeRoundTrip(t *testing.T) {
	databasetest.ForEachBackend(t, migrations, func(t *testing.T, db *database.DB) {
		ctx := t.Context()
		// Nanoseconds and a non-UTC zone: both are normalised by Timestamp.
		zone := time.FixedZone("UTC+5", 5*3600)
		base := time.Date(2026, 3, 1, 12, 30, 45, 123456789, zone)
		want := database.Timestamp(base)
		if err := insertItem(ctx, db, 1, "a", want); err != nil {
			t.Fatalf("insert: %v", err)
		}

		var got time.Time
		if err := db.QueryRowContext(ctx, `SELECT created_at FROM items WHERE id = $1`, int64(1)).Scan(&got); err != nil {
			t.Fatalf("select: %v", err)
		}
		if got != want {
			t.Errorf("round trip: got %v (%v), want %v (%v)", got, got.Location(), want, want.Location())
		}

		// Comparing with a time.Time argument works on the stored form, and
		// a whole second sorts before a fractional one (text order on SQLite).
		if err := insertItem(ctx, db, 2, "b", database.Timestamp(base.Truncate(time.Second))); err != nil {
			t.Fatalf("insert: %v", err)
		}
		if err := insertItem(ctx, db, 3, "c", database.Timestamp(base.Add(time.Hour))); err != nil {
			t.Fatalf("insert: %v", err)
		}
		var ids []int64
		rows, err := db.QueryContext(ctx, `SELECT id FROM items WHERE created_at >= $1 ORDER BY created_at`, want.Truncate(time.Second))
		if err != nil {
			t.Fatalf("select ordered: %v", err)
		}
		defer func() { _ = rows.Close() }()
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				t.Fatalf("scan: %v", err)
			}
			ids = append(ids, id)
		}
		if err := rows.Err(); err != nil {
			t.Fatalf("rows: %v", err)
		}
		if len(ids) != 3 || ids[0] != 2 || ids[1] != 1 || ids[2] != 3 {
			t.Errorf("ORDER BY created_at: got ids %v, want [2 1 3]", ids)
		}

		// An aggregate loses the column type on SQLite; ScanTime copes.
		var newest time.Time
		if err := db.QueryRowContext(ctx, `SELECT MAX(created_at) FROM items`).Scan(database.ScanTime(&newest)); err != nil {
			t.Fatalf("select max: %v", err)
		}
		if wantMax := database.Timestamp(base.Add(time.Hour)); newest != wantMax {
			t.Errorf("MAX(created_at) = %v, want %v", newest, wantMax)
		}
		var none time.Time
		if err := db.QueryRowContext(ctx, `SELECT MAX(created_at) FROM items WHERE id < 0`).Scan(database.ScanTime(&none)); err != nil || !none.IsZero() {
			t.Errorf("MAX over no rows: got %v, err %v; want zero time", none, err)
		}
	})
}

func TestIsUniqueViolation(t *testing.T) {
	databasetest.ForEachBackend(t, migrations, func(t *testing.T, db *database.DB) {
		ctx := t.Context()
		now := database.Timestamp(time.Now())
		if err := insertItem(ctx, db, 1, "a", now); err != nil {
			t.Fatalf("insert: %v", err)
		}
		if err := insertItem(ctx, db, 2, "a", now); !database.IsUniqueViolation(err) {
			t.Errorf("duplicate UNIQUE column: IsUniqueViolation(%v) = false", err)
		}
		if err := insertItem(ctx, db, 1, "b", now); !database.IsUniqueViolation(err) {
			t.Errorf("duplicate PRIMARY KEY: IsUniqueViolation(%v) = false", err)
		}
		_, err := db.ExecContext(ctx, `INSERT INTO items (id, name) VALUES ($1, $2)`, int64(3), "c")
		if err == nil || database.IsUniqueViolation(err) {
			t.Errorf("NOT NULL violation: err %v, IsUniqueViolation true; want a non-unique error", err)
		}
		if database.IsUniqueViolation(nil) {
			t.Error("IsUniqueViolation(nil) = true")
		}
	})
}

func TestInTx(t *testing.T) {
	databasetest.ForEachBackend(t, migrations, func(t *testing.T, db *database.DB) {
		ctx := t.Context()
		now := database.Timestamp(time.Now())
		count := func() int {
			t.Helper()
			var n int
			if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM items`).Scan(&n); err != nil {
				t.Fatalf("count: %v", err)
			}
			return n
		}

		if err := db.InTx(ctx, func(tx *sql.Tx) error { return insertItem(ctx, tx, 1, "a", now) }); err != nil {
			t.Fatalf("commit: %v", err)
		}
		if n := count(); n != 1 {
			t.Fatalf("after commit: %d rows, want 1", n)
		}

		errDomain := errors.New("domain says no")
		err := db.InTx(ctx, func(tx *sql.Tx) error {
			if err := insertItem(ctx, tx, 2, "b", now); err != nil {
				return err
			}
			return errDomain
		})
		if err != errDomain { //nolint:errorlint // fn's error must come back as is, not wrapped
			t.Fatalf("rollback: got %v, want fn's error unchanged", err)
		}
		if n := count(); n != 1 {
			t.Fatalf("after rollback: %d rows, want 1", n)
		}

		func() {
			defer func() {
				if p := recover(); p != "boom" {
					t.Fatalf("recovered %v, want the panic re-raised", p)
				}
			}()
			_ = db.InTx(ctx, func(tx *sql.Tx) error {
				if err := insertItem(ctx, tx, 3, "c", now); err != nil {
					return err
				}
				panic("boom")
			})
		}()
		if n := count(); n != 1 {
			t.Fatalf("after panic: %d rows, want 1 (rolled back)", n)
		}
		// The connection went back to the pool usable, and on SQLite the
		// write lock was released.
		if err := db.InTx(ctx, func(tx *sql.Tx) error { return insertItem(ctx, tx, 4, "d", now) }); err != nil {
			t.Fatalf("transaction after panic: %v", err)
		}
	})
}

// TestConcurrentWriters is the SQLite deadlock BEGIN IMMEDIATE prevents: many
// read-then-write transactions at once. With BEGIN DEFERRED some fail with
// SQLITE_BUSY regardless of busy_timeout.
func TestConcurrentWriters(t *testing.T) {
	databasetest.ForEachBackend(t, migrations, func(t *testing.T, db *database.DB) {
		ctx := t.Context()
		if err := insertItem(ctx, db, 1, "a", database.Timestamp(time.Now())); err != nil {
			t.Fatalf("insert: %v", err)
		}
		const writers = 16
		var wg sync.WaitGroup
		errs := make(chan error, writers)
		for range writers {
			wg.Go(func() {
				errs <- db.InTxOpts(ctx, &sql.TxOptions{Isolation: sql.LevelSerializable}, func(tx *sql.Tx) error {
					var n int64
					if err := tx.QueryRowContext(ctx, `SELECT counter FROM items WHERE id = 1`).Scan(&n); err != nil {
						return err
					}
					_, err := tx.ExecContext(ctx, `UPDATE items SET counter = $1 WHERE id = 1`, n+1)
					return err
				})
			})
		}
		wg.Wait()
		close(errs)
		failed := 0
		for err := range errs {
			if err != nil {
				failed++
				t.Logf("writer: %v", err)
			}
		}
		var n int64
		if err := db.QueryRowContext(ctx, `SELECT counter FROM items WHERE id = 1`).Scan(&n); err != nil {
			t.Fatalf("select: %v", err)
		}
		// On PostgreSQL a SERIALIZABLE writer may exhaust its retries under
		// this much contention; what must never happen is a lost update.
		if n != int64(writers-failed) {
			t.Fatalf("counter = %d, want %d (%d writers, %d failed)", n, writers-failed, writers, failed)
		}
		if db.Dialect == database.SQLite && failed > 0 {
			t.Fatalf("%d SQLite writers failed, want none", failed)
		}
	})
}

func TestInMemorySQLite(t *testing.T) {
	ctx := t.Context()
	db, err := database.Open(ctx, "sqlite://:memory:", migrations, telemetry.Noop())
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	defer func() { _ = db.Close() }()
	if err := db.InTx(ctx, func(tx *sql.Tx) error { return insertItem(ctx, tx, 1, "a", time.Now()) }); err != nil {
		t.Fatalf("insert: %v", err)
	}
	var n int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM items`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("count = %d, err %v; want 1 row in the same in-memory database", n, err)
	}
}

func TestMigrations(t *testing.T) {
	t.Run("reopen applies nothing twice", func(t *testing.T) {
		url := "sqlite://" + filepath.Join(t.TempDir(), "sub", "dir", "x.db")
		for range 2 {
			db, err := database.Open(t.Context(), url, migrations, telemetry.Noop())
			if err != nil {
				t.Fatalf("open: %v", err)
			}
			if err := db.Close(); err != nil {
				t.Fatalf("close: %v", err)
			}
		}
	})
	t.Run("missing dialect directory", func(t *testing.T) {
		only := fstest.MapFS{"postgres/00001_init.sql": migrations["postgres/00001_init.sql"]}
		_, err := database.Open(t.Context(), "sqlite://"+filepath.Join(t.TempDir(), "x.db"), only, telemetry.Noop())
		if err == nil || !strings.Contains(err.Error(), "sqlite/") {
			t.Fatalf("got %v, want an error naming the sqlite/ directory", err)
		}
	})
	t.Run("broken migration", func(t *testing.T) {
		broken := fstest.MapFS{"sqlite/00001_init.sql": {Data: []byte("-- +goose Up\nCREATE TABLE (;\n")}}
		_, err := database.Open(t.Context(), "sqlite://"+filepath.Join(t.TempDir(), "x.db"), broken, telemetry.Noop())
		if err == nil || !strings.Contains(err.Error(), "00001_init.sql") {
			t.Fatalf("got %v, want an error naming the failing file", err)
		}
	})
}

func TestOpenErrorsHideThePassword(t *testing.T) {
	const secret = "s3cret-Pa55"
	// A port nobody listens on: taken from a listener we then close.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name, url, want string
	}{
		{"unreachable", "postgres://u:" + secret + "@" + addr + "/db?sslmode=disable", "database unreachable at " + addr},
		{"malformed port", "postgres://u:" + secret + "@127.0.0.1:notaport/db", "parse postgres url"},
		{"password in query", "postgres://" + addr + "/db?sslmode=disable&user=u&password=" + secret, "database unreachable at " + addr},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := database.Open(t.Context(), tt.url, nil, telemetry.Noop(), database.WithPingTimeout(2*time.Second))
			if err == nil {
				t.Fatal("open succeeded")
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error leaks the password: %v", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}
