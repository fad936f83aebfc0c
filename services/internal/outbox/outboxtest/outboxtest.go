// Package outboxtest gives store tests an outbox they can read back.
package outboxtest

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"testing"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	"github.com/vidstream/vidstream/services/internal/database"
	"github.com/vidstream/vidstream/services/internal/outbox"
)

// Table is an outbox that writes each event to a table of its own inside
// the caller's transaction, so a test sees exactly the events of committed
// transactions, as the real outbox would publish them. It implements the
// stores' Outbox interface (Enqueue, Notify).
type Table struct {
	db *database.DB

	mu       sync.Mutex
	notified int
}

var _ outbox.Writer = (*Table)(nil)

// Event is an event as Table stored it.
type Event struct {
	// Topic is the event's topic, or a job's queue.
	Topic   string
	Type    string // the payload's message name, e.g. "UserCreated"
	Payload []byte
}

// NewTable returns a Table in db (creating its table if needed).
func NewTable(tb testing.TB, db *database.DB) *Table {
	tb.Helper()
	_, err := db.ExecContext(tb.Context(), `CREATE TABLE IF NOT EXISTS outboxtest_events
		(topic TEXT NOT NULL, msg_key TEXT NOT NULL, type TEXT NOT NULL, payload BYTEA NOT NULL)`)
	if err != nil {
		tb.Fatalf("outboxtest: create table: %v", err)
	}
	return &Table{db: db}
}

// Enqueue stores events in tx.
func (o *Table) Enqueue(ctx context.Context, tx *sql.Tx, events ...outbox.Event) error {
	for _, e := range events {
		payload, err := proto.Marshal(e.Payload)
		if err != nil {
			return fmt.Errorf("outboxtest: marshal: %w", err)
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO outboxtest_events (topic, msg_key, type, payload) VALUES ($1, $2, $3, $4)`,
			e.Topic+e.Queue, e.Key, string(e.Payload.ProtoReflect().Descriptor().Name()), payload)
		if err != nil {
			return fmt.Errorf("outboxtest: insert: %w", err)
		}
	}
	return nil
}

// Notify counts the calls: a store calls it after each commit that
// enqueued events.
func (o *Table) Notify() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.notified++
}

// Notified returns how often Notify was called.
func (o *Table) Notified() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.notified
}

// Events returns the committed events keyed by key, in no particular order.
func (o *Table) Events(tb testing.TB, key uuid.UUID) []Event {
	tb.Helper()
	rows, err := o.db.QueryContext(tb.Context(), `SELECT topic, type, payload FROM outboxtest_events WHERE msg_key = $1`, key.String())
	if err != nil {
		tb.Fatalf("outboxtest: read: %v", err)
	}
	defer func() { _ = rows.Close() }()
	var out []Event
	for rows.Next() {
		var e Event
		if err := rows.Scan(&e.Topic, &e.Type, &e.Payload); err != nil {
			tb.Fatalf("outboxtest: scan: %v", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		tb.Fatalf("outboxtest: read: %v", err)
	}
	return out
}

// Types returns the message names of the committed events keyed by key.
func (o *Table) Types(tb testing.TB, key uuid.UUID) []string {
	tb.Helper()
	var out []string
	for _, e := range o.Events(tb, key) {
		out = append(out, e.Type)
	}
	return out
}
