// Package bare is the baseline of the PUT /v1/history/{video_id}
// benchmarks: the least any service can do for that request. A chi route,
// the JSON body decoded, one upsert of a row shaped like watch history's,
// the JSON answer. No authentication, no call to another service, no
// outbox, no tracing, no access log. What the real path costs beyond this
// is what its patterns cost.
package bare

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"
)

// Schema creates the table, shaped like watch history's history_entries
// (same columns, same primary key and "recent first" index), in SQL both
// SQLite and PostgreSQL accept.
var Schema = []string{
	`CREATE TABLE IF NOT EXISTS bare_history (
		user_id          TEXT      NOT NULL,
		video_id         TEXT      NOT NULL,
		title            TEXT      NOT NULL,
		duration_seconds INTEGER   NOT NULL,
		position_seconds INTEGER   NOT NULL,
		watched_at       TIMESTAMP,
		video_updated_at TIMESTAMP NOT NULL,
		updated_at       TIMESTAMP NOT NULL,
		version          INTEGER   NOT NULL,
		PRIMARY KEY (user_id, video_id)
	)`,
	`CREATE INDEX IF NOT EXISTS bare_history_user_recent ON bare_history (user_id, updated_at DESC, video_id DESC)`,
}

// Migrate creates the table if it is missing.
func Migrate(ctx context.Context, db *sql.DB) error {
	for _, stmt := range Schema {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("bare: create table: %w", err)
		}
	}
	return nil
}

const upsert = `
	INSERT INTO bare_history (user_id, video_id, title, duration_seconds, position_seconds, watched_at, video_updated_at, updated_at, version)
	VALUES ($1, $2, $3, $4, $5, NULL, $6, $6, 1)
	ON CONFLICT (user_id, video_id) DO UPDATE
	SET position_seconds = excluded.position_seconds, updated_at = excluded.updated_at, version = bare_history.version + 1`

// Duration is the duration every bare entry claims: the bare path knows no
// catalog.
const Duration = 7200

type request struct {
	PositionSeconds *int `json:"position_seconds"`
}

type response struct {
	VideoID         string    `json:"video_id"`
	Title           string    `json:"title"`
	PositionSeconds int       `json:"position_seconds"`
	DurationSeconds int       `json:"duration_seconds"`
	Completed       bool      `json:"completed"`
	UpdatedAt       time.Time `json:"updated_at"`
}

// NewHandler serves GET /readyz and PUT /v1/history/{video_id} over db.
// The bearer token is taken as the user id as it is: the baseline has no
// sessions to look up.
func NewHandler(db *sql.DB) http.Handler {
	r := chi.NewRouter()
	r.Get("/readyz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	r.Put("/v1/history/{video_id}", func(w http.ResponseWriter, r *http.Request) {
		userID, err := uuid.Parse(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
		if err != nil {
			http.Error(w, "bad token", http.StatusUnauthorized)
			return
		}
		videoID, err := uuid.Parse(chi.URLParam(r, "video_id"))
		if err != nil {
			http.Error(w, "bad video id", http.StatusBadRequest)
			return
		}
		var req request
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.PositionSeconds == nil ||
			*req.PositionSeconds < 0 || *req.PositionSeconds > Duration {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		now := time.Now().UTC().Truncate(time.Microsecond)
		if _, err := db.ExecContext(r.Context(), upsert,
			userID.String(), videoID.String(), "", Duration, *req.PositionSeconds, now); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		body, err := json.Marshal(response{
			VideoID: videoID.String(), PositionSeconds: *req.PositionSeconds, DurationSeconds: Duration,
			Completed: *req.PositionSeconds*10 >= Duration*9, UpdatedAt: now,
		})
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})
	return r
}
