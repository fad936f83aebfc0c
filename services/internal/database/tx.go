package database

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"
)

// maxTxAttempts bounds how often InTx runs fn when PostgreSQL aborts the
// transaction to resolve a conflict. A few retries absorb ordinary contention;
// beyond that the conflict is structural and retrying only adds load.
const maxTxAttempts = 5

// InTx runs fn in a transaction and commits it if fn returns nil. Otherwise,
// or if fn panics, it rolls back; a panic is then re-raised.
//
// On PostgreSQL, when the server aborts the transaction with a serialization
// failure (40001) or a deadlock (40P01), InTx runs fn again in a fresh
// transaction, up to a few times. fn must therefore have no effects outside
// tx, or only idempotent ones: build the outbox row inside fn, publish after.
//
// fn's error is returned as is, so domain errors (apperr) keep their kind.
func (db *DB) InTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return db.InTxOpts(ctx, nil, fn)
}

// InTxOpts is InTx with explicit transaction options, for example
// sql.LevelSerializable on PostgreSQL. On SQLite the isolation level is
// ignored (SQLite transactions are always serializable) and ReadOnly makes the
// transaction start DEFERRED, so it does not take the write lock.
func (db *DB) InTxOpts(ctx context.Context, opts *sql.TxOptions, fn func(tx *sql.Tx) error) error {
	for attempt := 1; ; attempt++ {
		err := db.runTx(ctx, opts, fn)
		if err == nil || db.Dialect != Postgres || !isRetryable(err) {
			return err
		}
		if attempt == maxTxAttempts {
			return fmt.Errorf("transaction aborted %d times by conflicts, giving up: %w", attempt, err)
		}
		if err := backoff(ctx, attempt); err != nil {
			return err
		}
	}
}

func (db *DB) runTx(ctx context.Context, opts *sql.TxOptions, fn func(tx *sql.Tx) error) (err error) {
	tx, err := db.BeginTx(ctx, opts)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	// Hooks registered in an attempt that did not commit are dropped.
	defer afterCommit.Delete(tx)
	defer func() {
		if p := recover(); p != nil {
			// Roll back before re-panicking so the connection goes back to
			// the pool clean (and SQLite's write lock is released) even if
			// a recoverer further up keeps the process alive.
			_ = tx.Rollback()
			panic(p)
		}
	}()

	if err := fn(tx); err != nil {
		if rbErr := tx.Rollback(); rbErr != nil && !errors.Is(rbErr, sql.ErrTxDone) {
			return errors.Join(err, fmt.Errorf("roll back transaction: %w", rbErr))
		}
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit transaction: %w", err)
	}
	if hooks, ok := afterCommit.LoadAndDelete(tx); ok {
		for _, fn := range hooks.(*commitHooks).take() {
			fn()
		}
	}
	return nil
}

// afterCommit holds the hooks of the transactions InTx is running, by
// *sql.Tx, for code that writes through a transaction it does not own.
var afterCommit sync.Map

type commitHooks struct {
	mu  sync.Mutex
	fns []func()
}

func (h *commitHooks) add(fn func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.fns = append(h.fns, fn)
}

func (h *commitHooks) take() []func() {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.fns
}

// AfterCommit runs fn once tx has committed, before InTx returns; if tx
// rolls back (or InTx starts another attempt), fn never runs. It is for
// effects outside the database that must not be seen before the change is
// (telling other replicas to drop a cached copy, say), by code that writes
// through a transaction someone else owns, such as a Kafka handler. tx must
// be one that InTx (or InTxOpts) is running: any other is never committed
// through here, and its hooks would be kept forever.
func AfterCommit(tx *sql.Tx, fn func()) {
	h, _ := afterCommit.LoadOrStore(tx, &commitHooks{})
	h.(*commitHooks).add(fn)
}

// backoff waits before a retry: exponential from 5 ms, capped, with full
// jitter so that the transactions which just collided do not collide again.
func backoff(ctx context.Context, attempt int) error {
	ceiling := min(5*time.Millisecond<<attempt, 200*time.Millisecond)
	timer := time.NewTimer(rand.N(ceiling) + time.Millisecond) //nolint:gosec // jitter, not a secret
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return fmt.Errorf("retry transaction: %w", context.Cause(ctx))
	case <-timer.C:
		return nil
	}
}

// Querier is what *sql.DB, *sql.Conn and *sql.Tx have in common, so that
// one implementation of a query serves inside a transaction and outside.
type Querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}
