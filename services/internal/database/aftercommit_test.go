package database_test

import (
	"database/sql"
	"errors"
	"testing"
	"time"

	"github.com/vidstream/vidstream/services/internal/database"
	"github.com/vidstream/vidstream/services/internal/database/databasetest"
)

// A hook runs after its transaction committed, where the change is visible
// to other connections, and never for a transaction that rolled back.
func TestAfterCommit(t *testing.T) {
	databasetest.ForEachBackend(t, migrations, func(t *testing.T, db *database.DB) {
		ctx := t.Context()
		now := database.Timestamp(time.Now())
		var seen []int
		err := db.InTx(ctx, func(tx *sql.Tx) error {
			if err := insertItem(ctx, tx, 1, "a", now); err != nil {
				return err
			}
			database.AfterCommit(tx, func() {
				var n int
				if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM items`).Scan(&n); err != nil {
					t.Errorf("count in hook: %v", err)
				}
				seen = append(seen, n)
			})
			if len(seen) != 0 {
				t.Error("hook ran before the commit")
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(seen) != 1 || seen[0] != 1 {
			t.Fatalf("hook saw %v, want one run seeing the committed row", seen)
		}

		ran := false
		errNo := errors.New("no")
		err = db.InTx(ctx, func(tx *sql.Tx) error {
			database.AfterCommit(tx, func() { ran = true })
			return errNo
		})
		if !errors.Is(err, errNo) || ran {
			t.Fatalf("rolled back: err %v, hook ran %v", err, ran)
		}
	})
}
