package database

import (
	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
)

// Dialect names the SQL backend behind a DB, so callers can branch where the
// SQL differs.
type Dialect string

const (
	Postgres Dialect = "postgres"
	SQLite   Dialect = "sqlite"
)

func (d Dialect) String() string { return string(d) }

// ForUpdateSkipLocked returns the clause a queue consumer (such as the outbox
// relay) appends to its SELECT to claim rows that no concurrent consumer
// holds. SQLite has no row locks and needs none: a write transaction there
// holds the database's only write lock from BEGIN IMMEDIATE on, so the clause
// is empty.
func (d Dialect) ForUpdateSkipLocked() string {
	if d == Postgres {
		return " FOR UPDATE SKIP LOCKED"
	}
	return ""
}

// systemName is the OpenTelemetry db.system.name of the dialect.
func (d Dialect) systemName() attribute.KeyValue {
	if d == Postgres {
		return semconv.DBSystemNamePostgreSQL
	}
	return semconv.DBSystemNameSQLite
}
