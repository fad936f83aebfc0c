package outbox

import (
	"context"
	"embed"
	"fmt"
	"io/fs"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/vidstream/vidstream/services/internal/database"
)

//go:embed migrations/postgres/*.sql migrations/sqlite/*.sql
var migrations embed.FS

// versionTable is goose's bookkeeping table for the outbox migrations. It is
// not goose's default, so the outbox's migrations and the service's own are
// versioned independently in one database and never mistake each other's
// version numbers for their own.
const versionTable = "outbox_goose_db_version"

// migrationLockID is the PostgreSQL advisory lock serializing outbox
// migrations across replicas starting at once; a key of its own, so they do
// not queue behind the service's migrations (goose's default key).
const migrationLockID int64 = 0x6f7574626f78 // "outbox"

// Migrate creates or upgrades the outbox table. It is idempotent; call it at
// start-up, after database.Open, in every service that enqueues events.
func Migrate(ctx context.Context, db *database.DB) error {
	dir, err := fs.Sub(migrations, "migrations/"+string(db.Dialect))
	if err != nil {
		return fmt.Errorf("migrate outbox: %w", err)
	}
	opts := []goose.ProviderOption{goose.WithDisableGlobalRegistry(true), goose.WithTableName(versionTable)}
	dialect := goose.DialectSQLite3
	if db.Dialect == database.Postgres {
		dialect = goose.DialectPostgres
		locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(migrationLockID))
		if err != nil {
			return fmt.Errorf("migrate outbox: %w", err)
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	provider, err := goose.NewProvider(dialect, db.DB, dir, opts...)
	if err != nil {
		return fmt.Errorf("migrate outbox: %w", err)
	}
	if _, err := provider.Up(ctx); err != nil {
		return fmt.Errorf("migrate outbox: %w", err)
	}
	return nil
}
