package database

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/XSAM/otelsql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/stdlib"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"

	"github.com/vidstream/vidstream/services/internal/telemetry"
)

func openPostgres(ctx context.Context, t target, p telemetry.Providers, o options) (*DB, error) {
	cfg, err := pgx.ParseConfig(t.raw)
	if err != nil {
		// pgx quotes the URL with the password masked; redact (in Open)
		// makes sure of it.
		return nil, fmt.Errorf("parse postgres url: %w", err)
	}
	if cfg.ConnectTimeout == 0 {
		// Without a bound, a pool reconnecting to a vanished server waits on
		// the kernel's TCP timeout, minutes, whatever the caller's context.
		cfg.ConnectTimeout = 5 * time.Second
	}
	where := net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port)))

	connector := stdlib.GetConnector(*cfg, stdlib.OptionAfterConnect(scanTimesInUTC))
	sqlDB := otelsql.OpenDB(connector, otelOptions(Postgres, p,
		semconv.ServerAddress(cfg.Host),
		semconv.ServerPort(int(cfg.Port)),
		semconv.DBNamespace(cfg.Database),
	)...)

	sqlDB.SetMaxOpenConns(o.maxOpenConns)
	// As many idle as open: closing and reopening connections under bursty
	// load costs a TLS+auth round trip each time for nothing.
	sqlDB.SetMaxIdleConns(o.maxOpenConns)
	// Recycle connections so a failover or a new server behind the same DNS
	// name is picked up, and idle ones so a quiet replica releases its share
	// of the server's max_connections.
	sqlDB.SetConnMaxLifetime(30 * time.Minute)
	sqlDB.SetConnMaxIdleTime(5 * time.Minute)

	if err := ping(ctx, sqlDB, o.pingTimeout, where); err != nil {
		return nil, errors.Join(err, sqlDB.Close())
	}
	return &DB{DB: sqlDB, Dialect: Postgres}, nil
}

// scanTimesInUTC makes TIMESTAMPTZ values scan as UTC instead of the process's
// local zone, matching what SQLite returns, so repositories and their tests
// see identical time.Time values on both backends.
func scanTimesInUTC(_ context.Context, conn *pgx.Conn) error {
	conn.TypeMap().RegisterType(&pgtype.Type{
		Name:  "timestamptz",
		OID:   pgtype.TimestamptzOID,
		Codec: &pgtype.TimestamptzCodec{ScanLocation: time.UTC},
	})
	return nil
}
