// Package store keeps watch history in the service's relational database and
// writes the events of each change to the transactional outbox in the same
// transaction. One implementation serves PostgreSQL and SQLite: the
// statements are portable, only the schemas (migrations/postgres and
// migrations/sqlite) differ.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/google/uuid"

	"github.com/vidstream/vidstream/services/internal/database"
	"github.com/vidstream/vidstream/services/internal/outbox"
	"github.com/vidstream/vidstream/services/watch-history/internal/domain"
)

//go:embed migrations
var migrations embed.FS

// Migrations returns the schema migrations, with postgres/ and sqlite/ at the
// root as database.Open expects.
func Migrations() fs.FS { return database.MigrationsIn(migrations, "migrations") }

// Store implements domain.Store over a database.DB.
type Store struct {
	db     *database.DB
	outbox outbox.Writer
}

var _ domain.Store = (*Store)(nil)

// New returns a Store over db that enqueues events to ob.
func New(db *database.DB, ob outbox.Writer) *Store {
	return &Store{db: db, outbox: ob}
}

// Atomic runs fn in one database transaction.
func (s *Store) Atomic(ctx context.Context, fn func(ctx context.Context, tx domain.Tx) error) error {
	var last *txn
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		// InTx may run this more than once (PostgreSQL conflicts); only
		// the attempt that committed counts.
		last = &txn{tx: tx, outbox: s.outbox, dialect: s.db.Dialect}
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

// Bind returns the domain operations over a transaction someone else owns:
// the Kafka consumer's, which also records the event id it is processing.
// Events emitted through it wait for the relay's next poll, since only the
// owner knows when the transaction commits.
func (s *Store) Bind(tx *sql.Tx) domain.Tx {
	return &txn{tx: tx, outbox: s.outbox, dialect: s.db.Dialect}
}

const entryColumns = `user_id, video_id, title, duration_seconds, position_seconds, watched_at, video_updated_at, updated_at, version`

// List implements domain.Store.
func (s *Store) List(ctx context.Context, userID uuid.UUID, after *domain.Cursor, limit int) ([]domain.Entry, error) {
	var (
		rows *sql.Rows
		err  error
	)
	// Row-value comparison is the keyset condition both backends understand
	// and PostgreSQL can answer straight from history_entries_user_recent.
	if after == nil {
		rows, err = s.db.QueryContext(ctx, `
			SELECT `+entryColumns+` FROM history_entries
			WHERE user_id = $1
			ORDER BY updated_at DESC, video_id DESC
			LIMIT $2`,
			userID, limit)
	} else {
		rows, err = s.db.QueryContext(ctx, `
			SELECT `+entryColumns+` FROM history_entries
			WHERE user_id = $1 AND (updated_at, video_id) < ($2, $3)
			ORDER BY updated_at DESC, video_id DESC
			LIMIT $4`,
			userID, database.Timestamp(after.UpdatedAt), after.VideoID, limit)
	}
	if err != nil {
		return nil, fmt.Errorf("query history: %w", err)
	}
	defer rows.Close()
	entries := make([]domain.Entry, 0, limit)
	for rows.Next() {
		e, err := scanEntry(rows)
		if err != nil {
			return nil, err
		}
		entries = append(entries, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read history: %w", err)
	}
	return entries, nil
}

// txn implements domain.Tx.
type txn struct {
	tx      *sql.Tx
	outbox  outbox.Writer
	dialect database.Dialect
	emitted bool
}

// videoLockSpace is the first key of the two-key advisory locks on videos
// (the second is a hash of the video id).
const videoLockSpace = 0x77686973 // "whis"

// deletedVideoTTL is how long a deleted video's tombstone is kept.
const deletedVideoTTL = 24 * time.Hour

// lockVideo orders a new entry's write with the deletion of its video. On
// PostgreSQL, READ COMMITTED would otherwise let a report that checked
// deleted_videos before a concurrent VideoDeleted committed insert its
// entry after that VideoDeleted's DELETE ran. Reports take the video's
// advisory lock shared, so they never wait for each other, and the
// deletion takes it exclusively: whichever commits second sees the
// other's rows. SQLite needs nothing: its write lock already serializes
// writing transactions.
func (t *txn) lockVideo(ctx context.Context, videoID uuid.UUID, exclusive bool) error {
	if t.dialect != database.Postgres {
		return nil
	}
	lock := "pg_advisory_xact_lock_shared"
	if exclusive {
		lock = "pg_advisory_xact_lock"
	}
	if _, err := t.tx.ExecContext(ctx, `SELECT `+lock+`($1, hashtext($2))`, videoLockSpace, videoID.String()); err != nil {
		return fmt.Errorf("lock video %s: %w", videoID, err)
	}
	return nil
}

func (t *txn) Find(ctx context.Context, userID, videoID uuid.UUID) (domain.Entry, bool, error) {
	row := t.tx.QueryRowContext(ctx, `
		SELECT `+entryColumns+` FROM history_entries
		WHERE user_id = $1 AND video_id = $2`,
		userID, videoID)
	e, err := scanEntry(row)
	if errors.Is(err, sql.ErrNoRows) {
		return domain.Entry{}, false, nil
	}
	if err != nil {
		return domain.Entry{}, false, err
	}
	return e, true, nil
}

func (t *txn) Put(ctx context.Context, e domain.Entry) error {
	if e.Version == 1 {
		// A new entry, unless its video was deleted meanwhile (an
		// existing entry needs no check: the deletion removes it, and an
		// update of a removed row changes nothing).
		if err := t.lockVideo(ctx, e.VideoID, false); err != nil {
			return err
		}
		var deleted int
		err := t.tx.QueryRowContext(ctx, `SELECT 1 FROM deleted_videos WHERE video_id = $1`, e.VideoID).Scan(&deleted)
		switch {
		case err == nil:
			return domain.ErrVideoDeleted
		case !errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("check deleted videos: %w", err)
		}
		// Two first reports racing both see no row; the primary key lets
		// exactly one insert win.
		_, err = t.tx.ExecContext(ctx, `
			INSERT INTO history_entries (`+entryColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			e.UserID, e.VideoID, e.Title, e.DurationSeconds, e.PositionSeconds,
			nullTime(e.WatchedAt), database.Timestamp(e.VideoUpdatedAt), database.Timestamp(e.UpdatedAt), e.Version)
		if database.IsUniqueViolation(err) {
			return domain.ErrConcurrentUpdate
		}
		if err != nil {
			return fmt.Errorf("insert history entry: %w", err)
		}
		return nil
	}
	res, err := t.tx.ExecContext(ctx, `
		UPDATE history_entries
		SET title = $1, duration_seconds = $2, position_seconds = $3, watched_at = $4,
		    video_updated_at = $5, updated_at = $6, version = $7
		WHERE user_id = $8 AND video_id = $9 AND version = $10`,
		e.Title, e.DurationSeconds, e.PositionSeconds, nullTime(e.WatchedAt),
		database.Timestamp(e.VideoUpdatedAt), database.Timestamp(e.UpdatedAt), e.Version,
		e.UserID, e.VideoID, e.Version-1)
	if err != nil {
		return fmt.Errorf("update history entry: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("update history entry: rows affected: %w", err)
	}
	if n == 0 {
		return domain.ErrConcurrentUpdate
	}
	return nil
}

func (t *txn) Delete(ctx context.Context, userID, videoID uuid.UUID) (bool, error) {
	res, err := t.tx.ExecContext(ctx, `DELETE FROM history_entries WHERE user_id = $1 AND video_id = $2`, userID, videoID)
	if err != nil {
		return false, fmt.Errorf("delete history entry: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("delete history entry: rows affected: %w", err)
	}
	return n > 0, nil
}

func (t *txn) DeleteUser(ctx context.Context, userID uuid.UUID) error {
	if _, err := t.tx.ExecContext(ctx, `DELETE FROM history_entries WHERE user_id = $1`, userID); err != nil {
		return fmt.Errorf("delete history of user: %w", err)
	}
	return nil
}

func (t *txn) DeleteVideo(ctx context.Context, videoID uuid.UUID) error {
	if err := t.lockVideo(ctx, videoID, true); err != nil {
		return err
	}
	now := database.Timestamp(time.Now())
	if _, err := t.tx.ExecContext(ctx, `
		INSERT INTO deleted_videos (video_id, deleted_at) VALUES ($1, $2)
		ON CONFLICT (video_id) DO NOTHING`, videoID, now); err != nil {
		return fmt.Errorf("record deleted video: %w", err)
	}
	if _, err := t.tx.ExecContext(ctx, `DELETE FROM history_entries WHERE video_id = $1`, videoID); err != nil {
		return fmt.Errorf("delete history of video: %w", err)
	}
	// Deletions are rare: pruning here keeps the table at a day's worth
	// without a job of its own.
	if _, err := t.tx.ExecContext(ctx, `DELETE FROM deleted_videos WHERE deleted_at < $1`, now.Add(-deletedVideoTTL)); err != nil {
		return fmt.Errorf("prune deleted videos: %w", err)
	}
	return nil
}

func (t *txn) RefreshVideo(ctx context.Context, v domain.Video) error {
	// One set-based statement however many users watched the video. CASE
	// rather than LEAST/MIN, whose names differ between the dialects.
	_, err := t.tx.ExecContext(ctx, `
		UPDATE history_entries
		SET title = $1,
		    duration_seconds = $2,
		    position_seconds = CASE WHEN position_seconds > $2 THEN $2 ELSE position_seconds END,
		    video_updated_at = $3,
		    version = version + 1
		WHERE video_id = $4 AND video_updated_at < $3`,
		v.Title, v.DurationSeconds, database.Timestamp(v.UpdatedAt), v.ID)
	if err != nil {
		return fmt.Errorf("refresh video in history: %w", err)
	}
	return nil
}

func (t *txn) Emit(ctx context.Context, events ...domain.Event) error {
	n, err := outbox.EnqueueAll(ctx, t.outbox, t.tx, events, toOutbox)
	t.emitted = t.emitted || n > 0
	return err
}

// scanner is the Scan method *sql.Row and *sql.Rows share.
type scanner interface{ Scan(dest ...any) error }

func scanEntry(row scanner) (domain.Entry, error) {
	var (
		e         domain.Entry
		watchedAt sql.Null[time.Time]
	)
	err := row.Scan(&e.UserID, &e.VideoID, &e.Title, &e.DurationSeconds, &e.PositionSeconds,
		&watchedAt, &e.VideoUpdatedAt, &e.UpdatedAt, &e.Version)
	if errors.Is(err, sql.ErrNoRows) {
		return domain.Entry{}, err
	}
	if err != nil {
		return domain.Entry{}, fmt.Errorf("scan history entry: %w", err)
	}
	if watchedAt.Valid {
		t := watchedAt.V.UTC()
		e.WatchedAt = &t
	}
	e.VideoUpdatedAt = e.VideoUpdatedAt.UTC()
	e.UpdatedAt = e.UpdatedAt.UTC()
	return e, nil
}

func nullTime(t *time.Time) sql.Null[time.Time] {
	if t == nil {
		return sql.Null[time.Time]{}
	}
	return sql.Null[time.Time]{V: database.Timestamp(*t), Valid: true}
}
