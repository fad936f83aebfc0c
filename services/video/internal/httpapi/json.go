package httpapi

import (
	"bytes"
	"encoding/json"
	"time"

	"github.com/vidstream/vidstream/services/video/internal/domain"
)

// videoJSON is the wire form of a video. Optional fields are always present,
// as null when unset, so clients see one stable shape.
type videoJSON struct {
	ID              string    `json:"id"`
	Title           string    `json:"title"`
	Description     string    `json:"description"`
	Kind            string    `json:"kind"`
	DurationSeconds int       `json:"duration_seconds"`
	SeriesTitle     *string   `json:"series_title"`
	Season          *int      `json:"season"`
	Episode         *int      `json:"episode"`
	ReleaseYear     *int      `json:"release_year"`
	OwnerID         string    `json:"owner_id"`
	Status          string    `json:"status"`
	ViewCount       int64     `json:"view_count"`
	CreatedAt       time.Time `json:"created_at"`
	UpdatedAt       time.Time `json:"updated_at"`
}

func toJSON(v domain.Video) videoJSON {
	return videoJSON{
		ID:              v.ID.String(),
		Title:           v.Title,
		Description:     v.Description,
		Kind:            string(v.Kind),
		DurationSeconds: v.DurationSeconds,
		SeriesTitle:     v.SeriesTitle,
		Season:          v.Season,
		Episode:         v.Episode,
		ReleaseYear:     v.ReleaseYear,
		OwnerID:         v.OwnerID.String(),
		Status:          string(v.Status),
		ViewCount:       v.ViewCount,
		CreatedAt:       v.CreatedAt,
		UpdatedAt:       v.UpdatedAt,
	}
}

func toJSONList(vs []domain.Video) []videoJSON {
	out := make([]videoJSON, len(vs))
	for i, v := range vs {
		out[i] = toJSON(v)
	}
	return out
}

// listJSON is a page of the catalog; next_cursor is null on the last page.
type listJSON struct {
	Items      []videoJSON `json:"items"`
	NextCursor *string     `json:"next_cursor"`
}

// popularJSON has no cursor: the popular list is a bounded top-N whose order
// shifts as views arrive, so paging through it would not be stable.
type popularJSON struct {
	Items []videoJSON `json:"items"`
}

// createRequest is the body of POST /v1/videos. Required fields are plain
// values: a missing one decodes to its zero value, which domain validation
// rejects naming the field.
type createRequest struct {
	Title           string  `json:"title"`
	Description     string  `json:"description"`
	Kind            string  `json:"kind"`
	DurationSeconds int     `json:"duration_seconds"`
	SeriesTitle     *string `json:"series_title"`
	Season          *int    `json:"season"`
	Episode         *int    `json:"episode"`
	ReleaseYear     *int    `json:"release_year"`
}

func (c createRequest) toDomain() domain.NewVideo {
	return domain.NewVideo{
		Title:           c.Title,
		Description:     c.Description,
		Kind:            domain.Kind(c.Kind),
		DurationSeconds: c.DurationSeconds,
		SeriesTitle:     c.SeriesTitle,
		Season:          c.Season,
		Episode:         c.Episode,
		ReleaseYear:     c.ReleaseYear,
	}
}

// patchRequest is a JSON merge-patch (RFC 7396) of a video: an absent member
// leaves the field alone, null clears it, a value replaces it. kind is
// accepted by the decoder only so that changing it is reported as immutable
// rather than as an unknown field.
type patchRequest struct {
	Title           optional[string] `json:"title"`
	Description     optional[string] `json:"description"`
	Kind            optional[string] `json:"kind"`
	DurationSeconds optional[int]    `json:"duration_seconds"`
	SeriesTitle     optional[string] `json:"series_title"`
	Season          optional[int]    `json:"season"`
	Episode         optional[int]    `json:"episode"`
	ReleaseYear     optional[int]    `json:"release_year"`
}

func (p patchRequest) toDomain() domain.Patch {
	return domain.Patch{
		Title:           p.Title.change(),
		Description:     p.Description.change(),
		Kind:            p.Kind.change(),
		DurationSeconds: p.DurationSeconds.change(),
		SeriesTitle:     p.SeriesTitle.change(),
		Season:          p.Season.change(),
		Episode:         p.Episode.change(),
		ReleaseYear:     p.ReleaseYear.change(),
	}
}

// optional tells an absent JSON member from an explicit null, which a plain
// pointer cannot: encoding/json only calls UnmarshalJSON for members that are
// present, including those whose value is null.
type optional[T any] struct {
	set   bool
	value *T
}

func (o *optional[T]) UnmarshalJSON(b []byte) error {
	o.set = true
	if bytes.Equal(b, []byte("null")) {
		o.value = nil
		return nil
	}
	var v T
	// A wrong type surfaces as *json.UnmarshalTypeError, to which the outer
	// decoder adds this member's name, so the 400 still names the field.
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	o.value = &v
	return nil
}

func (o optional[T]) change() domain.Change[T] {
	return domain.Change[T]{Set: o.set, Value: o.value}
}
