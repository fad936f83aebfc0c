package httpapi

import (
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/vidstream/vidstream/services/internal/auth"
	"github.com/vidstream/vidstream/services/internal/httpx"
	"github.com/vidstream/vidstream/services/user/internal/domain"
)

type createUserRequest struct {
	Email       string `json:"email"`
	Password    string `json:"password"`
	DisplayName string `json:"display_name"`
}

// userResponse is the full account, shown only to its owner.
type userResponse struct {
	ID          uuid.UUID `json:"id"`
	Email       string    `json:"email"`
	DisplayName string    `json:"display_name"`
	CreatedAt   time.Time `json:"created_at"`
}

// profileResponse is what anyone may see of a user.
type profileResponse struct {
	ID          uuid.UUID `json:"id"`
	DisplayName string    `json:"display_name"`
}

type createSessionRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

type sessionResponse struct {
	Token     string    `json:"token"`
	UserID    uuid.UUID `json:"user_id"`
	ExpiresAt time.Time `json:"expires_at"`
}

func toUserResponse(u domain.User) userResponse {
	return userResponse{ID: u.ID, Email: u.Email, DisplayName: u.DisplayName, CreatedAt: u.CreatedAt}
}

// POST /v1/users
func (h *handlers) createUser(w http.ResponseWriter, r *http.Request) {
	var req createUserRequest
	if err := httpx.DecodeJSON(w, r, &req); err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	u, err := h.svc.Register(r.Context(), domain.RegisterInput{
		Email:       req.Email,
		Password:    req.Password,
		DisplayName: req.DisplayName,
	})
	if err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	w.Header().Set("Location", "/v1/users/"+u.ID.String())
	httpx.WriteJSON(w, http.StatusCreated, toUserResponse(u))
}

// GET /v1/users/{id}
func (h *handlers) getUser(w http.ResponseWriter, r *http.Request) {
	id, err := httpx.PathUUID(r, "id")
	if err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	u, err := h.svc.GetUser(r.Context(), id)
	if err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, profileResponse{ID: u.ID, DisplayName: u.DisplayName})
}

// GET /v1/users/me
func (h *handlers) getMe(w http.ResponseWriter, r *http.Request) {
	p, err := auth.Require(r.Context())
	if err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	u, err := h.svc.GetUser(r.Context(), p.UserID)
	if err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store") // personal data
	httpx.WriteJSON(w, http.StatusOK, toUserResponse(u))
}

// DELETE /v1/users/me
func (h *handlers) deleteMe(w http.ResponseWriter, r *http.Request) {
	p, err := auth.Require(r.Context())
	if err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	if err := h.svc.DeleteUser(r.Context(), p.UserID); err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// POST /v1/sessions
func (h *handlers) createSession(w http.ResponseWriter, r *http.Request) {
	var req createSessionRequest
	if err := httpx.DecodeJSON(w, r, &req); err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	s, err := h.svc.Login(r.Context(), domain.LoginInput{
		Email:    req.Email,
		Password: req.Password,
		ClientIP: h.clientIP(r),
	})
	if err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store") // RFC 6749 §5.1: responses with tokens are not cached
	httpx.WriteJSON(w, http.StatusCreated, sessionResponse{Token: s.Token, UserID: s.UserID, ExpiresAt: s.ExpiresAt})
}

// DELETE /v1/sessions/current
func (h *handlers) deleteCurrentSession(w http.ResponseWriter, r *http.Request) {
	p, err := auth.Require(r.Context())
	if err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	if err := h.svc.Logout(r.Context(), p.Token); err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
