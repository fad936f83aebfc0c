// Package database opens the relational store a service owns, applies its
// migrations and runs transactions, behind one API for both supported
// backends:
//
//   - PostgreSQL (through pgx's database/sql driver) in Kubernetes and in
//     integration tests;
//   - SQLite (through modernc.org/sqlite, pure Go, no cgo) for `make run` and
//     fast unit tests.
//
// # Writing SQL that works on both
//
// Placeholders are written as $1, $2, ... on both backends. SQLite numbers
// them by first appearance, so use them in ascending order; reusing $1 later
// in the same statement is fine.
//
// Where the dialects really differ, branch on [DB.Dialect], and keep the two
// statements side by side in the repository so a reader can compare them.
// Schemas differ too, which is why migrations live in two directories
// (postgres/ and sqlite/) of one fs.FS.
//
// # Migrations
//
// [Open] applies the service's own schema. Packages that bring tables of
// their own into the service's database (the outbox, the consumers' inbox)
// describe them as a [MigrationSet] with its own version table and apply it
// with [Migrate] after Open; every set is versioned on its own, and on
// PostgreSQL an advisory lock per set lets one replica migrate while the
// others wait.
//
// # Time
//
// Declare time columns TIMESTAMPTZ on PostgreSQL and TIMESTAMP on SQLite, pass
// time.Time values as arguments and scan into *time.Time. On both backends the
// value comes back in UTC; on SQLite it is stored as fixed-offset UTC text
// ("2006-01-02 15:04:05.999999999+00:00"), which sorts chronologically, so
// ORDER BY and keyset pagination on a time column behave as on PostgreSQL.
// PostgreSQL keeps microseconds and SQLite nanoseconds: stamp values with
// [Timestamp] before writing them so both backends return exactly what was
// written. Never mix in SQLite's CURRENT_TIMESTAMP, whose format differs.
// Expressions over a time column (MAX, COALESCE, ...) lose their declared type
// on SQLite and come back as text; scan those through [ScanTime].
//
// # Transactions and the outbox
//
// [DB.InTx] hands fn a *sql.Tx, so a repository can write a domain row and its
// outbox row atomically. On SQLite every write transaction starts with BEGIN
// IMMEDIATE: it takes the database's single write lock up front, which
// prevents the deadlock two readers hit when both try to upgrade, and makes a
// relay's SELECT-then-UPDATE exclusive without row locks. On PostgreSQL a
// relay claims rows with [Dialect.ForUpdateSkipLocked] so several replicas can
// drain the outbox concurrently.
package database
