package database

import (
	"context"
	"database/sql"
	"sync"
	"sync/atomic"
)

// maxCachedStatements bounds a StmtCache: queries built at run time (an IN
// list of every length up to a batch limit) must not prepare without end.
const maxCachedStatements = 256

// StmtCache is a Querier over the pool that prepares each distinct query
// once and reuses the prepared statement (database/sql re-prepares it on
// each connection it runs on, once). SQLite compiles every statement it is
// handed; for a primary-key read, compiling cost as much as running it,
// and the video service's gRPC GetVideo ran at about half the rate of the
// same read prepared. PostgreSQL needs no such cache: pgx already caches
// prepared statements per connection, so there the queries go straight
// to the pool.
//
// Use it for queries outside transactions; inside one, use the *sql.Tx.
type StmtCache struct {
	db    *DB
	stmts sync.Map // query text -> *sql.Stmt
	n     atomic.Int32
}

var _ Querier = (*StmtCache)(nil)

// Statements returns a StmtCache over db.
func (db *DB) Statements() *StmtCache { return &StmtCache{db: db} }

// stmt returns query's prepared statement, or nil to run it unprepared
// (PostgreSQL, a full cache, or a statement that failed to prepare, whose
// error the unprepared run then reports).
func (c *StmtCache) stmt(ctx context.Context, query string) *sql.Stmt {
	if c.db.Dialect != SQLite {
		return nil
	}
	if s, ok := c.stmts.Load(query); ok {
		return s.(*sql.Stmt)
	}
	if c.n.Load() >= maxCachedStatements {
		return nil
	}
	// Detached from ctx: the statement outlives this call, and a caller
	// that gave up must not leave a half-prepared statement cached.
	s, err := c.db.PrepareContext(context.WithoutCancel(ctx), query)
	if err != nil {
		return nil
	}
	if prev, loaded := c.stmts.LoadOrStore(query, s); loaded {
		_ = s.Close() //nolint:sqlclosecheck // another caller prepared it first: this one is not kept
		return prev.(*sql.Stmt)
	}
	c.n.Add(1)
	return s
}

// ExecContext runs query through its prepared statement.
func (c *StmtCache) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if s := c.stmt(ctx, query); s != nil { //nolint:sqlclosecheck // cached, see stmt
		return s.ExecContext(ctx, args...)
	}
	return c.db.ExecContext(ctx, query, args...)
}

// QueryContext runs query through its prepared statement.
func (c *StmtCache) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if s := c.stmt(ctx, query); s != nil { //nolint:sqlclosecheck // cached, see stmt
		return s.QueryContext(ctx, args...)
	}
	return c.db.QueryContext(ctx, query, args...)
}

// QueryRowContext runs query through its prepared statement.
func (c *StmtCache) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if s := c.stmt(ctx, query); s != nil { //nolint:sqlclosecheck // cached, see stmt
		return s.QueryRowContext(ctx, args...)
	}
	return c.db.QueryRowContext(ctx, query, args...)
}
