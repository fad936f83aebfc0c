package httpapi

import (
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/vidstream/vidstream/services/internal/apperr"
	"github.com/vidstream/vidstream/services/internal/auth"
	"github.com/vidstream/vidstream/services/internal/httpx"
	"github.com/vidstream/vidstream/services/watch-history/internal/domain"
)

type putProgressRequest struct {
	// A pointer, so that a missing field is told apart from 0 (the start of
	// the video, a valid position) and reported instead of silently saved.
	PositionSeconds *int `json:"position_seconds"`
}

type entryResponse struct {
	VideoID         uuid.UUID `json:"video_id"`
	Title           string    `json:"title"`
	PositionSeconds int       `json:"position_seconds"`
	DurationSeconds int       `json:"duration_seconds"`
	Completed       bool      `json:"completed"`
	UpdatedAt       time.Time `json:"updated_at"`
}

type listResponse struct {
	Items []entryResponse `json:"items"`
	// NextCursor is null on the last page.
	NextCursor *string `json:"next_cursor"`
}

func toEntryResponse(e domain.Entry) entryResponse {
	return entryResponse{
		VideoID:         e.VideoID,
		Title:           e.Title,
		PositionSeconds: e.PositionSeconds,
		DurationSeconds: e.DurationSeconds,
		Completed:       e.Completed(),
		UpdatedAt:       e.UpdatedAt,
	}
}

// PUT /v1/history/{video_id}
func (h *handlers) putProgress(w http.ResponseWriter, r *http.Request) {
	p, err := auth.Require(r.Context())
	if err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	videoID, err := httpx.PathUUID(r, "video_id")
	if err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	var req putProgressRequest
	if err := httpx.DecodeJSON(w, r, &req); err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	if req.PositionSeconds == nil {
		httpx.WriteError(w, r, apperr.InvalidField("position_seconds", "is required"))
		return
	}
	e, err := h.svc.RecordProgress(r.Context(), p.UserID, videoID, *req.PositionSeconds)
	if err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, toEntryResponse(e))
}

// GET /v1/history
func (h *handlers) listHistory(w http.ResponseWriter, r *http.Request) {
	p, err := auth.Require(r.Context())
	if err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	limit, err := httpx.QueryInt(r, "limit", domain.DefaultPageSize, 1, domain.MaxPageSize)
	if err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	q := domain.ListQuery{Limit: limit}
	if raw := r.URL.Query().Get("cursor"); raw != "" {
		c, err := domain.DecodeCursor(raw)
		if err != nil {
			httpx.WriteError(w, r, invalidCursor(err))
			return
		}
		q.After = &c
	}
	page, err := h.svc.List(r.Context(), p.UserID, q)
	if err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	resp := listResponse{Items: make([]entryResponse, len(page.Items))}
	for i, e := range page.Items {
		resp.Items[i] = toEntryResponse(e)
	}
	if page.Next != nil {
		next := page.Next.Encode()
		resp.NextCursor = &next
	}
	httpx.WriteJSON(w, http.StatusOK, resp)
}

// DELETE /v1/history/{video_id}
func (h *handlers) deleteEntry(w http.ResponseWriter, r *http.Request) {
	p, err := auth.Require(r.Context())
	if err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	videoID, err := httpx.PathUUID(r, "video_id")
	if err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	if err := h.svc.Remove(r.Context(), p.UserID, videoID); err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func invalidCursor(err error) error {
	e := apperr.InvalidField("cursor", "malformed; pass next_cursor from a previous page unchanged")
	e.Err = err
	return e
}
