package database

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/vidstream/vidstream/services/internal/telemetry"
)

// migrate applies every pending migration in the dialect's directory of
// migrations. It uses a goose.Provider rather than goose's package-level API,
// which keeps the dialect and registered Go migrations in globals.
func (db *DB) migrate(ctx context.Context, migrations fs.FS, p telemetry.Providers) error {
	if migrations == nil {
		return nil
	}
	dir := string(db.Dialect)
	sub, err := fs.Sub(migrations, dir)
	if err != nil {
		return fmt.Errorf("migrations: %s directory: %w", dir, err)
	}

	opts := []goose.ProviderOption{
		goose.WithDisableGlobalRegistry(true),
		goose.WithSlog(p.Logger),
	}
	dialect := goose.DialectSQLite3
	if db.Dialect == Postgres {
		dialect = goose.DialectPostgres
		// Several replicas start at once in Kubernetes; a session-level
		// advisory lock lets one migrate while the others wait for it.
		locker, err := lock.NewPostgresSessionLocker()
		if err != nil {
			return fmt.Errorf("migrations: create lock: %w", err)
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	// SQLite needs no lock: each migration runs in a BEGIN IMMEDIATE
	// transaction, which already excludes other writers.

	provider, err := goose.NewProvider(dialect, db.DB, sub, opts...)
	if errors.Is(err, goose.ErrNoMigrations) {
		return fmt.Errorf("migrations: no .sql files in %s/ (want %s/00001_init.sql and the like)", dir, dir)
	}
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	if _, err := provider.Up(ctx); err != nil {
		// Name the file: goose's own message gives only type and version.
		if partial, ok := errors.AsType[*goose.PartialError](err); ok && partial.Failed != nil && partial.Failed.Source != nil {
			return fmt.Errorf("migrations: apply %s/%s: %w", dir, partial.Failed.Source.Path, partial.Err)
		}
		return fmt.Errorf("migrations: apply %s: %w", dir, err)
	}
	return nil
}

// MigrationsIn returns the folder dir of fsys, which holds postgres/*.sql
// and sqlite/*.sql, laid out as Open expects. A store embeds its folder
// and hands it over:
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
