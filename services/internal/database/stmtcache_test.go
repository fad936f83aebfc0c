package database_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vidstream/vidstream/services/internal/database"
	"github.com/vidstream/vidstream/services/internal/database/databasetest"
)

// TestStatements: the cache answers what the pool answers, on every
// backend, for more distinct queries than it keeps prepared, and reports
// a bad statement's error as the pool would.
func TestStatements(t *testing.T) {
	databasetest.ForEachBackend(t, migrations, func(t *testing.T, db *database.DB) {
		ctx := t.Context()
		st := db.Statements()
		for i := range 3 {
			if _, err := st.ExecContext(ctx, `INSERT INTO items (id, name, created_at) VALUES ($1, $2, $3)`,
				i+1, fmt.Sprintf("item-%d", i+1), database.Timestamp(time.Now())); err != nil {
				t.Fatalf("insert %d: %v", i+1, err)
			}
		}
		// Past the cache's bound (256), queries still run, unprepared.
		for i := range 300 {
			q := fmt.Sprintf(`SELECT name FROM items WHERE id = $1 AND %d = %d`, i, i)
			var name string
			if err := st.QueryRowContext(ctx, q, 2).Scan(&name); err != nil || name != "item-2" {
				t.Fatalf("query %d: %q, %v; want item-2", i, name, err)
			}
		}
		rows, err := st.QueryContext(ctx, `SELECT id FROM items ORDER BY id`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var ids []int
		for rows.Next() {
			var id int
			if err := rows.Scan(&id); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(ids) != "[1 2 3]" {
			t.Errorf("ids = %v, want [1 2 3]", ids)
		}
		_, err = st.ExecContext(ctx, `INSERT INTO no_such_table VALUES ($1)`, 1)
		if err == nil || !strings.Contains(err.Error(), "no_such_table") {
			t.Errorf("bad statement: %v, want an error naming the table", err)
		}
	})
}
