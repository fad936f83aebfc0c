package kafkabus

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"time"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/vidstream/vidstream/services/internal/database"
)

//go:embed migrations/postgres/*.sql migrations/sqlite/*.sql
var migrations embed.FS

// inboxVersionTable is goose's bookkeeping table for the inbox migrations.
// It is not goose's default, so the inbox's migrations and the service's own
// are versioned independently in one database and never mistake each other's
// version numbers for their own.
const inboxVersionTable = "kafkabus_goose_db_version"

// inboxLockID is the PostgreSQL advisory lock that serializes inbox
// migrations across replicas starting at once. A key of its own (goose's
// default is shared by every goose user) keeps them from queueing behind an
// unrelated migration.
const inboxLockID int64 = 0x6b61666b61627573 // "kafkabus"

// MigrateInbox creates or upgrades the table in which consumers record the
// events they applied. It is idempotent; call it at start-up, after
// database.Open, in every service that consumes events.
func MigrateInbox(ctx context.Context, db *database.DB) error {
	if err := migrate(ctx, db, migrations, inboxVersionTable, inboxLockID); err != nil {
		return fmt.Errorf("migrate kafkabus inbox: %w", err)
	}
	return nil
}

// migrate applies the migrations/<dialect> directory of fsys with a
// goose.Provider using its own version table and lock.
func migrate(ctx context.Context, db *database.DB, fsys fs.FS, table string, lockID int64) error {
	dir, err := fs.Sub(fsys, "migrations/"+string(db.Dialect))
	if err != nil {
		return err
	}
	opts := []goose.ProviderOption{goose.WithDisableGlobalRegistry(true), goose.WithTableName(table)}
	dialect := goose.DialectSQLite3
	if db.Dialect == database.Postgres {
		dialect = goose.DialectPostgres
		locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(lockID))
		if err != nil {
			return err
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	provider, err := goose.NewProvider(dialect, db.DB, dir, opts...)
	if err != nil {
		return err
	}
	_, err = provider.Up(ctx)
	return err
}

// inboxRetention is how long a processed event is remembered: longer than a
// record can be redelivered. Kafka's default retention is 7 days, and a
// group's committed offsets expire after 7 days too; a redelivery older than
// that would be a deliberate replay, which wants the effects again.
const inboxRetention = 8 * 24 * time.Hour

// recordProcessed inserts (group, id) and reports whether it was new. ON
// CONFLICT DO NOTHING rather than catching the unique violation: on
// PostgreSQL a failed statement aborts the whole transaction, and this one
// must go on (or at least commit cleanly) after finding a duplicate.
func recordProcessed(ctx context.Context, tx *sql.Tx, group, topic, id string, now time.Time) (bool, error) {
	res, err := tx.ExecContext(ctx,
		`INSERT INTO kafkabus_processed_events (consumer_group, event_id, topic, processed_at)
		 VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`,
		group, id, topic, database.Timestamp(now))
	if err != nil {
		return false, fmt.Errorf("record processed event: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("record processed event: %w", err)
	}
	return n == 1, nil
}

// purgeProcessed forgets a group's events processed before cutoff.
func purgeProcessed(ctx context.Context, db *database.DB, group string, cutoff time.Time) (int64, error) {
	res, err := db.ExecContext(ctx,
		`DELETE FROM kafkabus_processed_events WHERE consumer_group = $1 AND processed_at < $2`,
		group, database.Timestamp(cutoff))
	if err != nil {
		return 0, fmt.Errorf("purge processed events: %w", err)
	}
	return res.RowsAffected()
}
