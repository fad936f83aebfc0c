// Package store persists videos in PostgreSQL or SQLite through one SQL
// implementation, and writes the events of each change to the transactional
// outbox in the same transaction. The two dialects differ only in how ids
// and times are stored (see the migrations) and in row locking, so the
// branches are few and local.
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

	"github.com/vidstream/vidstream/services/internal/apperr"
	"github.com/vidstream/vidstream/services/internal/database"
	"github.com/vidstream/vidstream/services/internal/outbox"
	"github.com/vidstream/vidstream/services/video/internal/domain"
)

//go:embed migrations
var migrations embed.FS

// Migrations returns the goose migrations, laid out as database.Open expects
// (postgres/*.sql and sqlite/*.sql at the root).
func Migrations() fs.FS { return database.MigrationsIn(migrations, "migrations") }

// Store implements domain.Store.
type Store struct {
	db     *database.DB
	outbox outbox.Writer
	// transcodeQueue is the work queue transcode jobs go to, through the
	// outbox; empty when the job queue is off.
	transcodeQueue string
	q              queries
}

var _ domain.Store = (*Store)(nil)

// Option configures a Store.
type Option func(*Store)

// WithTranscodeQueue sends the transcode jobs the domain requests to the
// work queue named queue (events.TranscodeQueue, but for tests sharing a
// broker), through the outbox, whose job relay publishes them. Without
// it, requesting a transcode is an error.
func WithTranscodeQueue(queue string) Option { return func(s *Store) { s.transcodeQueue = queue } }

// New returns a Store over an opened, migrated database whose events go to
// ob, which must write to the same database (outbox.New(db, ...)).
func New(db *database.DB, ob outbox.Writer, opts ...Option) *Store {
	s := &Store{db: db, outbox: ob, q: queries{q: db.Statements(), dialect: db.Dialect}}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Atomic runs fn in one transaction and, when fn emitted events, wakes the
// outbox relay once the transaction committed. On PostgreSQL database.InTx
// may run fn again after a serialization failure, so fn must only have
// effects through tx.
func (s *Store) Atomic(ctx context.Context, fn func(ctx context.Context, tx domain.Tx) error) error {
	var last *txn
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		// Only the attempt that committed counts.
		last = s.bind(tx)
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
// the Kafka consumer's, which also records the id of the event it is
// processing. Events emitted through it wait for the relay's next poll,
// since only the owner knows when the transaction commits.
func (s *Store) Bind(tx *sql.Tx) domain.Tx { return s.bind(tx) }

func (s *Store) bind(tx *sql.Tx) *txn {
	return &txn{q: queries{q: tx, dialect: s.db.Dialect}, tx: tx, outbox: s.outbox, transcodeQueue: s.transcodeQueue}
}

func (s *Store) Get(ctx context.Context, id uuid.UUID) (domain.Video, error) {
	return s.q.get(ctx, id, false)
}

func (s *Store) GetMany(ctx context.Context, ids []uuid.UUID) ([]domain.Video, error) {
	return s.q.getMany(ctx, ids)
}

func (s *Store) List(ctx context.Context, lq domain.ListQuery) ([]domain.Video, error) {
	return s.q.list(ctx, lq)
}

func (s *Store) Popular(ctx context.Context, limit int) ([]domain.Video, error) {
	return s.q.popular(ctx, limit)
}

// txn implements domain.Tx over one SQL transaction.
type txn struct {
	q              queries
	tx             *sql.Tx
	outbox         outbox.Writer
	transcodeQueue string
	// emitted is set once an event or a job was enqueued.
	emitted bool
}

var _ domain.Tx = (*txn)(nil)

func (t *txn) Insert(ctx context.Context, v domain.Video) error { return t.q.insert(ctx, v) }

func (t *txn) GetForUpdate(ctx context.Context, id uuid.UUID) (domain.Video, error) {
	return t.q.get(ctx, id, true)
}

func (t *txn) Update(ctx context.Context, v domain.Video) error { return t.q.update(ctx, v) }

func (t *txn) Delete(ctx context.Context, id uuid.UUID) error { return t.q.delete(ctx, id) }

func (t *txn) IncrementViewCount(ctx context.Context, id uuid.UUID, by int64) error {
	return t.q.incrementViewCount(ctx, id, by)
}

func (t *txn) SetStatus(ctx context.Context, id uuid.UUID, status domain.Status, updatedAt time.Time) error {
	return t.q.setStatus(ctx, id, status, updatedAt)
}

func (t *txn) RequestTranscode(ctx context.Context, job domain.TranscodeJob) error {
	if t.transcodeQueue == "" {
		return fmt.Errorf("transcode of video %s requested, but the job queue is off", job.VideoID)
	}
	n, err := outbox.EnqueueAll(ctx, t.outbox, t.tx, []domain.TranscodeJob{job}, func(j domain.TranscodeJob) (outbox.Event, error) {
		return toJob(t.transcodeQueue, j)
	})
	t.emitted = t.emitted || n > 0
	return err
}

func (t *txn) Emit(ctx context.Context, events ...domain.Event) error {
	n, err := outbox.EnqueueAll(ctx, t.outbox, t.tx, events, toOutbox)
	t.emitted = t.emitted || n > 0
	return err
}

type queries struct {
	q       database.Querier
	dialect database.Dialect
}

const columns = `id, owner_id, title, description, kind, duration_seconds, series_title, season, episode,
	release_year, status, view_count, created_at, updated_at`

// sqliteTime is fixed width, so that text order is time order in SQLite.
const sqliteTime = "2006-01-02T15:04:05.000000Z"

// timeArg converts a time to the column's representation for the dialect.
func (q queries) timeArg(t time.Time) any {
	t = t.UTC()
	if q.dialect == database.SQLite {
		return t.Format(sqliteTime)
	}
	return t
}

func notFound(id uuid.UUID) error {
	return apperr.New(apperr.NotFound, "video %s not found", id)
}

func (q queries) get(ctx context.Context, id uuid.UUID, forUpdate bool) (domain.Video, error) {
	query := `SELECT ` + columns + ` FROM videos WHERE id = $1`
	// SQLite has no row locks; its write transactions (BEGIN IMMEDIATE)
	// already hold the database write lock, which serializes them.
	if forUpdate && q.dialect == database.Postgres {
		query += ` FOR UPDATE`
	}
	v, err := scanVideo(q.q.QueryRowContext(ctx, query, id))
	if errors.Is(err, sql.ErrNoRows) {
		return domain.Video{}, notFound(id)
	}
	if err != nil {
		return domain.Video{}, fmt.Errorf("select video %s: %w", id, err)
	}
	return v, nil
}

func (q queries) getMany(ctx context.Context, ids []uuid.UUID) ([]domain.Video, error) {
	if len(ids) == 0 {
		return []domain.Video{}, nil
	}
	// An IN list with numbered placeholders works on both dialects, unlike
	// PostgreSQL's = ANY($1) array parameter.
	var b strings.Builder
	args := make([]any, len(ids))
	for i, id := range ids {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("$" + strconv.Itoa(i+1))
		args[i] = id
	}
	return q.selectMany(ctx, `SELECT `+columns+` FROM videos WHERE id IN (`+b.String()+`)`, args...)
}

func (q queries) list(ctx context.Context, lq domain.ListQuery) ([]domain.Video, error) {
	var (
		where []string
		args  []any
	)
	// Placeholders are numbered in the order they appear because SQLite
	// numbers parameters by first appearance.
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if lq.Kind != "" {
		where = append(where, "kind = "+arg(string(lq.Kind)))
	}
	if lq.After != nil {
		// Row-value comparison matches the (created_at DESC, id DESC) index
		// and is supported by both PostgreSQL and SQLite (3.15+).
		ts := arg(q.timeArg(lq.After.CreatedAt))
		id := arg(lq.After.ID)
		where = append(where, "(created_at, id) < ("+ts+", "+id+")")
	}
	query := `SELECT ` + columns + ` FROM videos`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, " AND ")
	}
	query += ` ORDER BY created_at DESC, id DESC LIMIT ` + arg(lq.Limit)
	return q.selectMany(ctx, query, args...)
}

func (q queries) popular(ctx context.Context, limit int) ([]domain.Video, error) {
	return q.selectMany(ctx, `SELECT `+columns+` FROM videos ORDER BY view_count DESC, id ASC LIMIT $1`, limit)
}

func (q queries) selectMany(ctx context.Context, query string, args ...any) ([]domain.Video, error) {
	rows, err := q.q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("query videos: %w", err)
	}
	defer func() { _ = rows.Close() }()
	out := []domain.Video{}
	for rows.Next() {
		v, err := scanVideo(rows)
		if err != nil {
			return nil, fmt.Errorf("scan video: %w", err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read videos: %w", err)
	}
	return out, nil
}

func (q queries) insert(ctx context.Context, v domain.Video) error {
	_, err := q.q.ExecContext(ctx, `INSERT INTO videos (`+columns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
		v.ID, v.OwnerID, v.Title, v.Description, string(v.Kind), v.DurationSeconds,
		nullable(v.SeriesTitle), nullable(v.Season), nullable(v.Episode), nullable(v.ReleaseYear),
		string(v.Status), v.ViewCount, q.timeArg(v.CreatedAt), q.timeArg(v.UpdatedAt))
	if database.IsUniqueViolation(err) {
		return &apperr.Error{Kind: apperr.Conflict, Message: "video " + v.ID.String() + " already exists", Err: err}
	}
	if err != nil {
		return fmt.Errorf("insert video %s: %w", v.ID, err)
	}
	return nil
}

// update writes the mutable columns; id, owner, kind, status, view_count and
// created_at are never changed through it (view_count has its own increment
// so a concurrent edit cannot overwrite counted views).
func (q queries) update(ctx context.Context, v domain.Video) error {
	res, err := q.q.ExecContext(ctx, `UPDATE videos SET title = $1, description = $2, duration_seconds = $3,
		series_title = $4, season = $5, episode = $6, release_year = $7, updated_at = $8
		WHERE id = $9`,
		v.Title, v.Description, v.DurationSeconds,
		nullable(v.SeriesTitle), nullable(v.Season), nullable(v.Episode), nullable(v.ReleaseYear),
		q.timeArg(v.UpdatedAt), v.ID)
	if err != nil {
		return fmt.Errorf("update video %s: %w", v.ID, err)
	}
	return expectOne(res, v.ID)
}

func (q queries) setStatus(ctx context.Context, id uuid.UUID, status domain.Status, updatedAt time.Time) error {
	res, err := q.q.ExecContext(ctx, `UPDATE videos SET status = $1, updated_at = $2 WHERE id = $3`,
		string(status), q.timeArg(updatedAt), id)
	if err != nil {
		return fmt.Errorf("set status of video %s: %w", id, err)
	}
	return expectOne(res, id)
}

func (q queries) delete(ctx context.Context, id uuid.UUID) error {
	res, err := q.q.ExecContext(ctx, `DELETE FROM videos WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("delete video %s: %w", id, err)
	}
	return expectOne(res, id)
}

func (q queries) incrementViewCount(ctx context.Context, id uuid.UUID, by int64) error {
	if by <= 0 {
		// Views only accumulate; a negative delta is a caller bug that the
		// CHECK constraint would otherwise turn into an opaque SQL error.
		return apperr.InvalidField("by", "must be positive")
	}
	// The increment happens in SQL, not read-modify-write in Go, so
	// concurrent consumers never lose an update.
	res, err := q.q.ExecContext(ctx, `UPDATE videos SET view_count = view_count + $1 WHERE id = $2`, by, id)
	if err != nil {
		return fmt.Errorf("increment view count of %s: %w", id, err)
	}
	return expectOne(res, id)
}

func expectOne(res sql.Result, id uuid.UUID) error {
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("rows affected for video %s: %w", id, err)
	}
	if n == 0 {
		return notFound(id)
	}
	return nil
}

type scanner interface{ Scan(dest ...any) error }

func scanVideo(s scanner) (domain.Video, error) {
	var (
		v                            domain.Video
		kind, status                 string
		seriesTitle                  sql.NullString
		season, episode, releaseYear sql.NullInt64
		created, updated             dbTime
	)
	err := s.Scan(&v.ID, &v.OwnerID, &v.Title, &v.Description, &kind, &v.DurationSeconds,
		&seriesTitle, &season, &episode, &releaseYear, &status, &v.ViewCount, &created, &updated)
	if err != nil {
		return domain.Video{}, err
	}
	v.Kind = domain.Kind(kind)
	v.Status = domain.Status(status)
	if seriesTitle.Valid {
		v.SeriesTitle = &seriesTitle.String
	}
	v.Season = intPtr(season)
	v.Episode = intPtr(episode)
	v.ReleaseYear = intPtr(releaseYear)
	v.CreatedAt = created.t
	v.UpdatedAt = updated.t
	return v, nil
}

func intPtr(n sql.NullInt64) *int {
	if !n.Valid {
		return nil
	}
	i := int(n.Int64)
	return &i
}

// nullable turns a nil pointer into SQL NULL.
func nullable[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

// dbTime scans either dialect's time column: PostgreSQL drivers return a
// time.Time, SQLite returns the fixed-width text written by timeArg.
type dbTime struct{ t time.Time }

func (d *dbTime) Scan(src any) error {
	switch v := src.(type) {
	case time.Time:
		d.t = v.UTC()
		return nil
	case string:
		return d.parse(v)
	case []byte:
		return d.parse(string(v))
	default:
		return fmt.Errorf("unsupported time value %T", src)
	}
}

func (d *dbTime) parse(s string) error {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return fmt.Errorf("parse stored time %q: %w", s, err)
	}
	d.t = t.UTC()
	return nil
}
