package database_test

import (
	"database/sql"
	"errors"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/vidstream/vidstream/services/internal/database"
	"github.com/vidstream/vidstream/services/internal/database/databasetest"
	"github.com/vidstream/vidstream/services/internal/telemetry"
)

// TestInTxRetriesSerializationFailures provokes a real 40001: the
// transaction reads a row, another session updates it and commits, and then
// the REPEATABLE READ transaction tries to update the same row.
func TestInTxRetriesSerializationFailures(t *testing.T) {
	db := databasetest.OpenPostgres(t, migrations)
	ctx := t.Context()
	if err := insertItem(ctx, db, 1, "a", database.Timestamp(time.Now())); err != nil {
		t.Fatalf("insert: %v", err)
	}

	// interfere commits a concurrent update from another pooled connection.
	interfere := func() error {
		_, err := db.ExecContext(ctx, `UPDATE items SET counter = counter + 100 WHERE id = 1`)
		return err
	}
	run := func(conflicts int) (attempts int, err error) {
		err = db.InTxOpts(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead}, func(tx *sql.Tx) error {
			attempts++
			var n int64
			if err := tx.QueryRowContext(ctx, `SELECT counter FROM items WHERE id = 1`).Scan(&n); err != nil {
				return err
			}
			if attempts <= conflicts {
				if err := interfere(); err != nil {
					return err
				}
			}
			_, err := tx.ExecContext(ctx, `UPDATE items SET counter = $1 WHERE id = 1`, n+1)
			return err
		})
		return attempts, err
	}

	attempts, err := run(1)
	if err != nil {
		t.Fatalf("InTx after one conflict: %v", err)
	}
	if attempts != 2 {
		t.Errorf("attempts = %d, want 2 (one conflict, one success)", attempts)
	}
	var n int64
	if err := db.QueryRowContext(ctx, `SELECT counter FROM items WHERE id = 1`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 101 {
		t.Errorf("counter = %d, want 101: the retry must see the concurrent update", n)
	}

	attempts, err = run(1000)
	pgErr, ok := errors.AsType[*pgconn.PgError](err)
	if !ok || pgErr.Code != "40001" {
		t.Fatalf("InTx under endless conflicts: got %v, want the serialization failure", err)
	}
	if attempts != 5 {
		t.Errorf("attempts = %d, want 5 before giving up", attempts)
	}
}

// TestSkipLocked is how the outbox relay lets several replicas drain one
// table: each claims rows nobody else holds.
func TestSkipLocked(t *testing.T) {
	db := databasetest.OpenPostgres(t, migrations)
	ctx := t.Context()
	for i, name := range []string{"a", "b"} {
		if err := insertItem(ctx, db, int64(i+1), name, database.Timestamp(time.Now())); err != nil {
			t.Fatalf("insert: %v", err)
		}
	}
	claim := `SELECT id FROM items ORDER BY id LIMIT 1` + db.Dialect.ForUpdateSkipLocked()

	first, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = first.Rollback() }()
	var a, b int64
	if err := first.QueryRowContext(ctx, claim).Scan(&a); err != nil {
		t.Fatalf("first claim: %v", err)
	}
	err = db.InTx(ctx, func(tx *sql.Tx) error { return tx.QueryRowContext(ctx, claim).Scan(&b) })
	if err != nil {
		t.Fatalf("second claim: %v", err)
	}
	if a != 1 || b != 2 {
		t.Errorf("claims = %d, %d; want 1, 2 (the second skips the locked row)", a, b)
	}
}

// TestConcurrentMigrations starts several "replicas" on one empty database,
// as a Kubernetes rollout does: the advisory lock makes one migrate while
// the others wait, and none fails on a half-created schema.
func TestConcurrentMigrations(t *testing.T) {
	url := databasetest.PostgresURL(t)
	const replicas = 4
	var wg sync.WaitGroup
	errs := make(chan error, replicas)
	for range replicas {
		wg.Go(func() {
			db, err := database.Open(t.Context(), url, migrations, telemetry.Noop())
			if err != nil {
				errs <- err
				return
			}
			errs <- db.Close()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("replica: %v", err)
		}
	}
}

func TestWrongPasswordIsReportedWithoutIt(t *testing.T) {
	raw := os.Getenv(databasetest.PostgresURLEnv)
	if raw == "" {
		// OpenPostgres applies the skip-or-fail policy.
		databasetest.OpenPostgres(t, nil)
	}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("%s: not a URL", databasetest.PostgresURLEnv)
	}
	const wrong = "definitely-Wrong-pw"
	u.User = url.UserPassword(u.User.Username(), wrong)
	_, err = database.Open(t.Context(), u.String(), nil, telemetry.Noop())
	if err == nil {
		t.Fatal("open with a wrong password succeeded")
	}
	if strings.Contains(err.Error(), wrong) {
		t.Errorf("error leaks the password: %v", err)
	}
	if !strings.Contains(err.Error(), "database unreachable at "+u.Host) {
		t.Errorf("error %q does not name the server %s", err, u.Host)
	}
}
