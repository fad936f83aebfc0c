package httpapi

import (
	"fmt"
	"mime"
	"net/http"

	"github.com/vidstream/vidstream/services/internal/apperr"
	"github.com/vidstream/vidstream/services/internal/auth"
	"github.com/vidstream/vidstream/services/internal/httpx"
	"github.com/vidstream/vidstream/services/video/internal/domain"
)

type handlers struct {
	svc *domain.Service
}

func (h *handlers) createVideo(w http.ResponseWriter, r *http.Request) {
	p, err := auth.Require(r.Context())
	if err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	// Decoding into a pointer tells a JSON null body (left nil) from an
	// object, which encoding/json would otherwise accept as "no fields".
	var req *createRequest
	if err := httpx.DecodeJSON(w, r, &req); err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	if req == nil {
		httpx.WriteError(w, r, apperr.New(apperr.Invalid, "request body must be a JSON object"))
		return
	}
	v, err := h.svc.Create(r.Context(), p.UserID, req.toDomain())
	if err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	w.Header().Set("Location", "/v1/videos/"+v.ID.String())
	httpx.WriteJSON(w, http.StatusCreated, toJSON(v))
}

func (h *handlers) getVideo(w http.ResponseWriter, r *http.Request) {
	id, err := httpx.PathUUID(r, "id")
	if err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	v, err := h.svc.Get(r.Context(), id)
	if err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, toJSON(v))
}

func (h *handlers) listVideos(w http.ResponseWriter, r *http.Request) {
	q := domain.ListQuery{Kind: domain.Kind(r.URL.Query().Get("kind"))}
	// An empty ?kind= is not one of the kinds: rejected, not taken as "no
	// filter", which only an absent kind means.
	if r.URL.Query().Has("kind") && q.Kind == "" {
		httpx.WriteError(w, r, apperr.InvalidField("kind", fmt.Sprintf("must be %q or %q", domain.KindMovie, domain.KindEpisode)))
		return
	}
	var err error
	if q.Limit, err = httpx.QueryInt(r, "limit", domain.DefaultPageSize, 1, domain.MaxPageSize); err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	if raw := r.URL.Query().Get("cursor"); raw != "" {
		c, err := domain.DecodeCursor(raw)
		if err != nil {
			httpx.WriteError(w, r, err)
			return
		}
		q.After = &c
	}
	page, err := h.svc.List(r.Context(), q)
	if err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	out := listJSON{Items: toJSONList(page.Items)}
	if page.Next != nil {
		next := page.Next.Encode()
		out.NextCursor = &next
	}
	httpx.WriteJSON(w, http.StatusOK, out)
}

func (h *handlers) popularVideos(w http.ResponseWriter, r *http.Request) {
	limit, err := httpx.QueryInt(r, "limit", domain.DefaultPageSize, 1, domain.MaxPageSize)
	if err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	items, err := h.svc.Popular(r.Context(), limit)
	if err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, popularJSON{Items: toJSONList(items)})
}

func (h *handlers) updateVideo(w http.ResponseWriter, r *http.Request) {
	p, err := auth.Require(r.Context())
	if err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	id, err := httpx.PathUUID(r, "id")
	if err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	acceptMergePatch(r)
	var req *patchRequest
	if err := httpx.DecodeJSON(w, r, &req); err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	if req == nil {
		httpx.WriteError(w, r, apperr.New(apperr.Invalid, "request body must be a JSON object"))
		return
	}
	v, err := h.svc.Update(r.Context(), p.UserID, id, req.toDomain())
	if err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, toJSON(v))
}

func (h *handlers) deleteVideo(w http.ResponseWriter, r *http.Request) {
	p, err := auth.Require(r.Context())
	if err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	id, err := httpx.PathUUID(r, "id")
	if err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	if err := h.svc.Delete(r.Context(), p.UserID, id); err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// acceptMergePatch lets PATCH carry RFC 7396's own media type as well as
// plain application/json; httpx.DecodeJSON only knows the latter.
func acceptMergePatch(r *http.Request) {
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err == nil && mt == "application/merge-patch+json" {
		r.Header.Set("Content-Type", mime.FormatMediaType("application/json", params))
	}
}
