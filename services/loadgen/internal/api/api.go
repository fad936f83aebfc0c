// Package api is a client of vidstream's public REST API (docs/architecture.md#rest-api), the
// three services as one client sees them.
//
// Every call names the route it calls (e.g. "PUT /v1/history/{video_id}")
// in its request's context, so a tracing transport can name client spans
// like the server names its own, and load statistics can be grouped by
// route rather than by URL.
package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Client calls the three services.
type Client struct {
	UserURL    string // e.g. http://127.0.0.1:8081
	VideoURL   string
	HistoryURL string
	// HTTP sends the requests; nil means http.DefaultClient.
	HTTP *http.Client
}

// Local is a client of the services as `make run` starts them.
func Local() *Client {
	return &Client{
		UserURL:    "http://127.0.0.1:8081",
		VideoURL:   "http://127.0.0.1:8082",
		HistoryURL: "http://127.0.0.1:8083",
	}
}

// Error is a response other than the one expected: the status and the
// RFC 9457 problem document the services answer with.
type Error struct {
	Route  string // "PUT /v1/history/{video_id}"
	Status int
	Title  string
	Detail string
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("%s: %d %s", e.Route, e.Status, http.StatusText(e.Status))
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	return msg
}

// StatusOf returns the HTTP status of err, or 0 if err is not an *Error
// (the request failed before a response: refused, timed out, ...).
func StatusOf(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

type routeKey struct{}

// Route returns the route a request's context names, or "".
func Route(ctx context.Context) string {
	r, _ := ctx.Value(routeKey{}).(string)
	return r
}

// User is an account.
type User struct {
	ID          string    `json:"id"`
	Email       string    `json:"email"`
	DisplayName string    `json:"display_name"`
	CreatedAt   time.Time `json:"created_at"`
}

// Session is a login.
type Session struct {
	Token     string    `json:"token"`
	UserID    string    `json:"user_id"`
	ExpiresAt time.Time `json:"expires_at"`
}

// NewVideo is what POST /v1/videos takes.
type NewVideo struct {
	Title           string  `json:"title"`
	Description     string  `json:"description"`
	Kind            string  `json:"kind"` // "movie" or "episode"
	DurationSeconds int     `json:"duration_seconds"`
	SeriesTitle     *string `json:"series_title,omitempty"`
	Season          *int    `json:"season,omitempty"`
	Episode         *int    `json:"episode,omitempty"`
	ReleaseYear     *int    `json:"release_year,omitempty"`
}

// Video is a catalogue entry.
type Video struct {
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

// VideoPage is one page of the catalogue; NextCursor is empty on the last.
type VideoPage struct {
	Items      []Video `json:"items"`
	NextCursor string  `json:"next_cursor"`
}

// Progress is how far a user watched a video.
type Progress struct {
	VideoID         string    `json:"video_id"`
	Title           string    `json:"title"`
	PositionSeconds int       `json:"position_seconds"`
	DurationSeconds int       `json:"duration_seconds"`
	Completed       bool      `json:"completed"`
	UpdatedAt       time.Time `json:"updated_at"`
}

// HistoryPage is one page of a user's history, newest first.
type HistoryPage struct {
	Items      []Progress `json:"items"`
	NextCursor string     `json:"next_cursor"`
}

// SignUp creates an account.
func (c *Client) SignUp(ctx context.Context, email, password, displayName string) (User, error) {
	var u User
	err := c.do(ctx, call{
		method: http.MethodPost, base: c.UserURL, route: "/v1/users", want: http.StatusCreated,
		body: map[string]string{"email": email, "password": password, "display_name": displayName},
	}, &u)
	return u, err
}

// LogIn opens a session.
func (c *Client) LogIn(ctx context.Context, email, password string) (Session, error) {
	var s Session
	err := c.do(ctx, call{
		method: http.MethodPost, base: c.UserURL, route: "/v1/sessions", want: http.StatusCreated,
		body: map[string]string{"email": email, "password": password},
	}, &s)
	return s, err
}

// Me returns the account of token.
func (c *Client) Me(ctx context.Context, token string) (User, error) {
	var u User
	err := c.do(ctx, call{method: http.MethodGet, base: c.UserURL, route: "/v1/users/me", token: token, want: http.StatusOK}, &u)
	return u, err
}

// PublicUser returns what anyone may see of an account.
func (c *Client) PublicUser(ctx context.Context, id string) (User, error) {
	var u User
	err := c.do(ctx, call{method: http.MethodGet, base: c.UserURL, route: "/v1/users/{id}", params: []string{id}, want: http.StatusOK}, &u)
	return u, err
}

// LogOut ends token's session.
func (c *Client) LogOut(ctx context.Context, token string) error {
	return c.do(ctx, call{method: http.MethodDelete, base: c.UserURL, route: "/v1/sessions/current", token: token, want: http.StatusNoContent}, nil)
}

// DeleteMe deletes token's account (and, through the UserDeleted event,
// its watch history).
func (c *Client) DeleteMe(ctx context.Context, token string) error {
	return c.do(ctx, call{method: http.MethodDelete, base: c.UserURL, route: "/v1/users/me", token: token, want: http.StatusNoContent}, nil)
}

// CreateVideo publishes a video.
func (c *Client) CreateVideo(ctx context.Context, token string, v NewVideo) (Video, error) {
	var out Video
	err := c.do(ctx, call{method: http.MethodPost, base: c.VideoURL, route: "/v1/videos", token: token, body: v, want: http.StatusCreated}, &out)
	return out, err
}

// GetVideo returns one video.
func (c *Client) GetVideo(ctx context.Context, id string) (Video, error) {
	var v Video
	err := c.do(ctx, call{method: http.MethodGet, base: c.VideoURL, route: "/v1/videos/{id}", params: []string{id}, want: http.StatusOK}, &v)
	return v, err
}

// ListVideos returns a page of the catalogue; kind and cursor may be empty.
func (c *Client) ListVideos(ctx context.Context, kind string, limit int, cursor string) (VideoPage, error) {
	q := url.Values{}
	if kind != "" {
		q.Set("kind", kind)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	var p VideoPage
	err := c.do(ctx, call{method: http.MethodGet, base: c.VideoURL, route: "/v1/videos", query: q, want: http.StatusOK}, &p)
	return p, err
}

// PopularVideos returns the most watched videos.
func (c *Client) PopularVideos(ctx context.Context, limit int) ([]Video, error) {
	q := url.Values{}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var p VideoPage
	err := c.do(ctx, call{method: http.MethodGet, base: c.VideoURL, route: "/v1/videos/popular", query: q, want: http.StatusOK}, &p)
	return p.Items, err
}

// UpdateVideo changes the fields in patch (JSON names) of a video its
// owner, token, published.
func (c *Client) UpdateVideo(ctx context.Context, token, id string, patch map[string]any) (Video, error) {
	var v Video
	err := c.do(ctx, call{method: http.MethodPatch, base: c.VideoURL, route: "/v1/videos/{id}", params: []string{id}, token: token, body: patch, want: http.StatusOK}, &v)
	return v, err
}

// DeleteVideo deletes a video its owner, token, published.
func (c *Client) DeleteVideo(ctx context.Context, token, id string) error {
	return c.do(ctx, call{method: http.MethodDelete, base: c.VideoURL, route: "/v1/videos/{id}", params: []string{id}, token: token, want: http.StatusNoContent}, nil)
}

// PutProgress records how far token's user watched a video.
func (c *Client) PutProgress(ctx context.Context, token, videoID string, positionSeconds int) (Progress, error) {
	var p Progress
	err := c.do(ctx, call{
		method: http.MethodPut, base: c.HistoryURL, route: "/v1/history/{video_id}", params: []string{videoID},
		token: token, body: map[string]int{"position_seconds": positionSeconds}, want: http.StatusOK,
	}, &p)
	return p, err
}

// History returns a page of token's user's history.
func (c *Client) History(ctx context.Context, token string, limit int, cursor string) (HistoryPage, error) {
	q := url.Values{}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	var p HistoryPage
	err := c.do(ctx, call{method: http.MethodGet, base: c.HistoryURL, route: "/v1/history", query: q, token: token, want: http.StatusOK}, &p)
	return p, err
}

// call is one request: route is the path pattern, params fill its
// {placeholders} in order.
type call struct {
	method string
	base   string
	route  string
	params []string
	query  url.Values
	token  string
	body   any
	want   int
}

func (c *Client) do(ctx context.Context, k call, dst any) error {
	name := k.method + " " + k.route
	path := k.route
	for _, p := range k.params {
		i, j := strings.IndexByte(path, '{'), strings.IndexByte(path, '}')
		if i < 0 || j < i {
			return fmt.Errorf("%s: more params than placeholders", name)
		}
		path = path[:i] + url.PathEscape(p) + path[j+1:]
	}
	u := strings.TrimRight(k.base, "/") + path
	if len(k.query) > 0 {
		u += "?" + k.query.Encode()
	}
	var body io.Reader = http.NoBody
	if k.body != nil {
		b, err := json.Marshal(k.body)
		if err != nil {
			return fmt.Errorf("%s: encode body: %w", name, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(context.WithValue(ctx, routeKey{}, name), k.method, u, body)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if k.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if k.token != "" {
		req.Header.Set("Authorization", "Bearer "+k.token)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != k.want {
		e := &Error{Route: name, Status: resp.StatusCode}
		var problem struct {
			Title  string `json:"title"`
			Detail string `json:"detail"`
		}
		if json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&problem) == nil {
			e.Title, e.Detail = problem.Title, problem.Detail
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return e
	}
	if dst == nil {
		// Drained so the connection can be reused: load runs would
		// otherwise open a connection per request.
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(dst); err != nil {
		return fmt.Errorf("%s: decode response: %w", name, err)
	}
	return nil
}
