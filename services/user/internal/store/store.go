// Package store implements domain.Store over database.DB and writes the
// events of each change to the transactional outbox in the same
// transaction. One SQL implementation serves PostgreSQL and SQLite: every
// statement here is portable, so the dialects differ only in their
// migrations.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/vidstream/vidstream/services/internal/database"
	"github.com/vidstream/vidstream/services/internal/outbox"
	"github.com/vidstream/vidstream/services/user/internal/domain"
)

//go:embed migrations/postgres/*.sql migrations/sqlite/*.sql
var migrations embed.FS

// Migrations holds postgres/*.sql and sqlite/*.sql, the layout
// database.Open expects.
func Migrations() fs.FS { return database.MigrationsIn(migrations, "migrations") }

// Store is the user service's domain.Store.
type Store struct {
	db     *database.DB
	outbox outbox.Writer
	queries
}

var _ domain.Store = (*Store)(nil)

// New returns a Store over an opened (and migrated) database whose events
// go to ob, which must write to the same database (outbox.New(db, ...)).
func New(db *database.DB, ob outbox.Writer) *Store {
	return &Store{db: db, outbox: ob, queries: queries{q: db.DB, dialect: db.Dialect}}
}

// Atomic runs fn in one database transaction and, when fn emitted events,
// wakes the outbox relay once the transaction committed.
func (s *Store) Atomic(ctx context.Context, fn func(ctx context.Context, tx domain.Tx) error) error {
	var last *txn
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		// InTx may run this more than once (PostgreSQL conflicts); only
		// the attempt that committed counts.
		last = &txn{queries: queries{q: tx, dialect: s.dialect}, tx: tx, outbox: s.outbox}
		return fn(ctx, last)
	})
	if err != nil {
		return err
	}
	if last.emitted {
		s.outbox.Notify()
	}
	return nil
}

// txn implements domain.Tx: the queries, bound to one transaction, and
// Emit, which enqueues into the outbox within that same transaction.
type txn struct {
	queries
	tx      *sql.Tx
	outbox  outbox.Writer
	emitted bool
}

var _ domain.Tx = (*txn)(nil)

func (t *txn) Emit(ctx context.Context, events ...domain.Event) error {
	n, err := outbox.EnqueueAll(ctx, t.outbox, t.tx, events, toOutbox)
	t.emitted = t.emitted || n > 0
	return err
}

type queries struct {
	q       database.Querier
	dialect database.Dialect
}

const userColumns = `id, email, display_name, password_hash, created_at`

func scanUser(row interface{ Scan(...any) error }) (domain.User, error) {
	var u domain.User
	err := row.Scan(&u.ID, &u.Email, &u.DisplayName, &u.PasswordHash, &u.CreatedAt)
	return u, err
}

func (q queries) UserByID(ctx context.Context, id uuid.UUID) (domain.User, error) {
	u, err := scanUser(q.q.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return domain.User{}, domain.ErrNotFound
	}
	if err != nil {
		return domain.User{}, fmt.Errorf("select user by id: %w", err)
	}
	return u, nil
}

func (q queries) UserByEmail(ctx context.Context, email string) (domain.User, error) {
	u, err := scanUser(q.q.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE email = $1`, email))
	if errors.Is(err, sql.ErrNoRows) {
		return domain.User{}, domain.ErrNotFound
	}
	if err != nil {
		return domain.User{}, fmt.Errorf("select user by email: %w", err)
	}
	return u, nil
}

func (q queries) UsersByIDs(ctx context.Context, ids []uuid.UUID) ([]domain.User, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	// An IN list of numbered placeholders is the one form both dialects
	// accept (Postgres' = ANY($1) would need an array parameter SQLite lacks).
	var b strings.Builder
	args := make([]any, len(ids))
	for i, id := range ids {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("$" + strconv.Itoa(i+1))
		args[i] = id
	}
	rows, err := q.q.QueryContext(ctx, `SELECT `+userColumns+` FROM users WHERE id IN (`+b.String()+`)`, args...)
	if err != nil {
		return nil, fmt.Errorf("select users by ids: %w", err)
	}
	defer func() { _ = rows.Close() }()
	users := make([]domain.User, 0, len(ids))
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("scan user: %w", err)
		}
		users = append(users, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("select users by ids: %w", err)
	}
	return users, nil
}

func (q queries) SessionByTokenHash(ctx context.Context, hash []byte) (domain.Session, error) {
	var s domain.Session
	err := q.q.QueryRowContext(ctx,
		`SELECT token_hash, user_id, created_at, expires_at FROM sessions WHERE token_hash = $1`, hash,
	).Scan(&s.TokenHash, &s.UserID, &s.CreatedAt, &s.ExpiresAt)
	if errors.Is(err, sql.ErrNoRows) {
		return domain.Session{}, domain.ErrNotFound
	}
	if err != nil {
		return domain.Session{}, fmt.Errorf("select session: %w", err)
	}
	return s, nil
}

func (q queries) RecentLoginFailures(ctx context.Context, key string, since time.Time, limit int) ([]time.Time, error) {
	rows, err := q.q.QueryContext(ctx,
		`SELECT failed_at FROM login_failures WHERE throttle_key = $1 AND failed_at > $2 ORDER BY failed_at DESC LIMIT $3`,
		key, database.Timestamp(since), limit)
	if err != nil {
		return nil, fmt.Errorf("select login failures: %w", err)
	}
	defer func() { _ = rows.Close() }()
	var times []time.Time
	for rows.Next() {
		var t time.Time
		if err := rows.Scan(&t); err != nil {
			return nil, fmt.Errorf("scan login failure: %w", err)
		}
		times = append(times, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("select login failures: %w", err)
	}
	return times, nil
}

func (q queries) CreateUser(ctx context.Context, u domain.User) error {
	_, err := q.q.ExecContext(ctx,
		`INSERT INTO users (id, email, display_name, password_hash, created_at) VALUES ($1, $2, $3, $4, $5)`,
		u.ID, u.Email, u.DisplayName, u.PasswordHash, database.Timestamp(u.CreatedAt))
	if database.IsUniqueViolation(err) {
		return fmt.Errorf("insert user: %w", domain.ErrDuplicate)
	}
	if err != nil {
		return fmt.Errorf("insert user: %w", err)
	}
	return nil
}

func (q queries) DeleteUser(ctx context.Context, id uuid.UUID) error {
	// Sessions are deleted explicitly rather than by ON DELETE CASCADE
	// alone, so correctness doesn't hinge on SQLite's foreign_keys pragma.
	if _, err := q.q.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = $1`, id); err != nil {
		return fmt.Errorf("delete sessions of user: %w", err)
	}
	res, err := q.q.ExecContext(ctx, `DELETE FROM users WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("delete user: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("delete user: rows affected: %w", err)
	}
	if n == 0 {
		return domain.ErrNotFound
	}
	return nil
}

func (q queries) CreateSession(ctx context.Context, s domain.Session) error {
	_, err := q.q.ExecContext(ctx,
		`INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)`,
		s.TokenHash, s.UserID, database.Timestamp(s.CreatedAt), database.Timestamp(s.ExpiresAt))
	if err != nil {
		return fmt.Errorf("insert session: %w", err)
	}
	return nil
}

func (q queries) DeleteSession(ctx context.Context, hash []byte) (bool, error) {
	res, err := q.q.ExecContext(ctx, `DELETE FROM sessions WHERE token_hash = $1`, hash)
	if err != nil {
		return false, fmt.Errorf("delete session: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("delete session: rows affected: %w", err)
	}
	return n > 0, nil
}

func (q queries) DeleteExpiredSessions(ctx context.Context, userID uuid.UUID, now time.Time) error {
	_, err := q.q.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = $1 AND expires_at <= $2`, userID, database.Timestamp(now))
	if err != nil {
		return fmt.Errorf("delete expired sessions: %w", err)
	}
	return nil
}

func (q queries) RecordLoginFailure(ctx context.Context, keys []string, at, pruneBefore time.Time) error {
	// Pruning every key's stale rows here keeps the table bounded even when
	// an attacker sprays many distinct emails, without a background job.
	if _, err := q.q.ExecContext(ctx, `DELETE FROM login_failures WHERE failed_at <= $1`, database.Timestamp(pruneBefore)); err != nil {
		return fmt.Errorf("prune login failures: %w", err)
	}
	for _, k := range keys {
		if _, err := q.q.ExecContext(ctx,
			`INSERT INTO login_failures (throttle_key, failed_at) VALUES ($1, $2)`, k, database.Timestamp(at)); err != nil {
			return fmt.Errorf("insert login failure: %w", err)
		}
	}
	return nil
}

func (q queries) ClearLoginFailures(ctx context.Context, key string) error {
	if _, err := q.q.ExecContext(ctx, `DELETE FROM login_failures WHERE throttle_key = $1`, key); err != nil {
		return fmt.Errorf("clear login failures: %w", err)
	}
	return nil
}
