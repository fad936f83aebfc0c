package database

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// MigrationSet is one independently versioned set of goose migrations: a
// service's own schema, or the tables a shared package (the outbox, the
// consumers' inbox) brings into the service's database. Several sets live in
// one database side by side because each keeps its own version table: the
// service's migration 1 and the outbox's migration 1 are different
// migrations, and neither set mistakes the other's for its own.
type MigrationSet struct {
	// Name says which set an error is about ("schema", "outbox", ...).
	Name string
	// FS holds postgres/*.sql and sqlite/*.sql (see MigrationsIn).
	FS fs.FS
	// VersionTable is goose's bookkeeping table for this set. Empty means
	// goose's default, goose_db_version, which the service's own schema
	// uses; every other set needs a table of its own.
	VersionTable string
	// LockID is the PostgreSQL advisory lock key that serializes this set's
	// migrations when several replicas start at once. Zero means goose's
	// default key. A set with a version table of its own should have a key
	// of its own too, so its replicas do not queue behind unrelated
	// migrations of every other goose user of the server.
	LockID int64
}

// Migrate applies every pending migration of set in the directory for db's
// dialect. Migrations already applied are skipped, so calling it at every
// start-up is the intended use.
//
// It uses a goose.Provider rather than goose's package-level API, which keeps
// the dialect, the version table and registered Go migrations in globals that
// two sets would fight over.
func Migrate(ctx context.Context, db *DB, set MigrationSet) error {
	if set.Name == "" {
		set.Name = "schema"
	}
	if err := migrate(ctx, db, set); err != nil {
		return fmt.Errorf("migrate %s: %w", set.Name, err)
	}
	return nil
}

func migrate(ctx context.Context, db *DB, set MigrationSet) error {
	if set.FS == nil {
		return errors.New("no migrations given")
	}
	dir := string(db.Dialect)
	sub, err := fs.Sub(set.FS, dir)
	if err != nil {
		return fmt.Errorf("%s directory: %w", dir, err)
	}

	opts := []goose.ProviderOption{goose.WithDisableGlobalRegistry(true)}
	if set.VersionTable != "" {
		opts = append(opts, goose.WithTableName(set.VersionTable))
	}
	dialect := goose.DialectSQLite3
	if db.Dialect == Postgres {
		dialect = goose.DialectPostgres
		// Several replicas start at once in Kubernetes; a session-level
		// advisory lock lets one migrate while the others wait for it.
		var lockOpts []lock.SessionLockerOption
		if set.LockID != 0 {
			lockOpts = append(lockOpts, lock.WithLockID(set.LockID))
		}
		locker, err := lock.NewPostgresSessionLocker(lockOpts...)
		if err != nil {
			return fmt.Errorf("create lock: %w", err)
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	// SQLite needs no lock: each migration runs in a BEGIN IMMEDIATE
	// transaction, which already excludes other writers.

	provider, err := goose.NewProvider(dialect, db.DB, sub, opts...)
	if errors.Is(err, goose.ErrNoMigrations) {
		return fmt.Errorf("no .sql files in %s/ (want %s/00001_init.sql and the like)", dir, dir)
	}
	if err != nil {
		return err
	}
	if _, err := provider.Up(ctx); err != nil {
		// Name the file: goose's own message gives only type and version.
		if partial, ok := errors.AsType[*goose.PartialError](err); ok && partial.Failed != nil && partial.Failed.Source != nil {
			return fmt.Errorf("apply %s/%s: %w", dir, partial.Failed.Source.Path, partial.Err)
		}
		return fmt.Errorf("apply %s: %w", dir, err)
	}
	return nil
}

// MigrationsIn returns the folder dir of fsys, which holds postgres/*.sql
// and sqlite/*.sql, laid out as MigrationSet.FS and Open expect. A package
// embeds its folder and hands it over:
//
//	//go:embed migrations
//	var migrations embed.FS
//
//	func Migrations() fs.FS { return database.MigrationsIn(migrations, "migrations") }
//
// It panics if dir is not a valid path: a mistake in the embed directive,
// which the first test that opens a database would meet.
func MigrationsIn(fsys fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(fsys, dir)
	if err != nil {
		panic(fmt.Sprintf("database: migrations folder %q: %v", dir, err))
	}
	return sub
}
