package kafkabus

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"time"

	"github.com/vidstream/vidstream/services/internal/database"
)

//go:embed migrations/postgres/*.sql migrations/sqlite/*.sql
var migrations embed.FS

// inboxMigrations is the inbox table's schema. Its version table and lock key
// are its own, so it is versioned independently of the service's migrations
// in the same database and its replicas never queue behind an unrelated
// migration. The values are what deployed databases already record: never
// change them.
var inboxMigrations = database.MigrationSet{
	Name:         "kafkabus inbox",
	FS:           database.MigrationsIn(migrations, "migrations"),
	VersionTable: "kafkabus_goose_db_version",
	LockID:       0x6b61666b61627573, // "kafkabus"
}

// MigrateInbox creates or upgrades the table in which consumers record the
// events they applied. It is idempotent; call it at start-up, after
// database.Open, in every service that consumes events.
func MigrateInbox(ctx context.Context, db *database.DB) error {
	return database.Migrate(ctx, db, inboxMigrations)
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
