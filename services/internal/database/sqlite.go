package database

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"

	"github.com/XSAM/otelsql"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/vidstream/vidstream/services/internal/telemetry"
)

const memoryPath = ":memory:"

// sqliteParams are the connection settings every SQLite connection gets.
// modernc.org/sqlite applies them per connection, which matters: PRAGMAs such
// as foreign_keys and busy_timeout are per connection, not per file.
func sqliteParams() url.Values {
	v := url.Values{}
	v.Add("_pragma", "busy_timeout(10000)") // wait for the write lock instead of failing with SQLITE_BUSY
	v.Add("_pragma", "foreign_keys(1)")     // off by default in SQLite, for backwards compatibility
	v.Add("_pragma", "journal_mode(WAL)")   // readers do not block the writer, nor it them
	v.Add("_pragma", "synchronous(NORMAL)") // with WAL: durable across crashes of the process, cheap fsyncs
	// BEGIN IMMEDIATE takes the write lock at the start of a transaction. With
	// the default (DEFERRED), two transactions that read and then write can
	// each hold a read lock and wait for the other forever; SQLite detects
	// that and fails one with SQLITE_BUSY at once, busy_timeout or not.
	// Read-only transactions (sql.TxOptions{ReadOnly: true}) still BEGIN
	// DEFERRED.
	v.Set("_txlock", "immediate")
	// Write time.Time as "2006-01-02 15:04:05.999999999+00:00" in UTC and read
	// it back in UTC: one fixed offset makes the text sort chronologically.
	v.Set("_time_format", "sqlite")
	v.Set("_timezone", "UTC")
	return v
}

func openSQLite(ctx context.Context, t target, p telemetry.Providers, o options) (*DB, error) {
	if t.path != memoryPath {
		// The default DATABASE_URL points into a git-ignored .data/ folder;
		// creating it saves every developer a mkdir before `make run`.
		if dir := filepath.Dir(t.path); dir != "." {
			if err := os.MkdirAll(dir, 0o750); err != nil {
				return nil, fmt.Errorf("create directory for sqlite database: %w", err)
			}
		}
	}
	dsn := t.path + "?" + sqliteParams().Encode()
	if t.query != "" {
		// Extra parameters (another _pragma, say) go after ours: for the
		// driver's own keys such as _txlock the first value wins, so a URL
		// can add settings but not replace the ones above.
		dsn += "&" + t.query
	}

	sqlDB, err := otelsql.Open("sqlite", dsn, otelOptions(SQLite, p)...)
	if err != nil {
		return nil, fmt.Errorf("open sqlite database %s: %w", t.path, err)
	}
	if t.path == memoryPath {
		// Every connection to ":memory:" opens its own, empty database, so
		// the pool must hold exactly one connection and never recycle it.
		// Consequence: inside InTx, use the *sql.Tx, never db itself, or the
		// call waits forever for the connection the transaction holds.
		sqlDB.SetMaxOpenConns(1)
		sqlDB.SetMaxIdleConns(1)
		sqlDB.SetConnMaxLifetime(0)
		sqlDB.SetConnMaxIdleTime(0)
	} else {
		// SQLite has one writer at a time however many connections queue
		// for it; the cap only bounds open files and memory under load.
		sqlDB.SetMaxOpenConns(o.maxOpenConns)
		sqlDB.SetMaxIdleConns(o.maxOpenConns)
	}
	if err := ping(ctx, sqlDB, o.pingTimeout, t.path); err != nil {
		return nil, errors.Join(err, sqlDB.Close())
	}
	return &DB{DB: sqlDB, Dialect: SQLite}, nil
}
