package outbox

import (
	"context"
	"embed"

	"github.com/vidstream/vidstream/services/internal/database"
)

//go:embed migrations/postgres/*.sql migrations/sqlite/*.sql
var migrations embed.FS

// migrationSet is the outbox table's schema. Its version table and lock key
// are its own, so it is versioned independently of the service's migrations
// in the same database and its replicas never queue behind them. The values
// are what deployed databases already record: never change them.
var migrationSet = database.MigrationSet{
	Name:         "outbox",
	FS:           database.MigrationsIn(migrations, "migrations"),
	VersionTable: "outbox_goose_db_version",
	LockID:       0x6f7574626f78, // "outbox"
}

// Migrate creates or upgrades the outbox table. It is idempotent; call it at
// start-up, after database.Open, in every service that enqueues events.
func Migrate(ctx context.Context, db *database.DB) error {
	return database.Migrate(ctx, db, migrationSet)
}
