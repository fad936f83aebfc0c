package api_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/vidstream/vidstream/services/loadgen/internal/api"
)

func TestClientSendsAndDecodes(t *testing.T) {
	var routes []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPut && r.URL.EscapedPath() == "/v1/history/a%2Fb":
			body, _ := io.ReadAll(r.Body)
			if r.Header.Get("Authorization") != "Bearer tok" || r.Header.Get("Content-Type") != "application/json" || string(body) != `{"position_seconds":42}` {
				http.Error(w, "bad request", http.StatusBadRequest)
				return
			}
			_, _ = io.WriteString(w, `{"video_id":"a/b","title":"T","position_seconds":42,"duration_seconds":100,"completed":false}`)
		case r.URL.Path == "/v1/videos":
			if r.URL.RawQuery != "cursor=c1&kind=movie&limit=2" {
				http.Error(w, "query "+r.URL.RawQuery, http.StatusBadRequest)
				return
			}
			_, _ = io.WriteString(w, `{"items":[{"id":"v1"}],"next_cursor":null}`)
		default:
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, `{"type":"about:blank","title":"Not Found","status":404,"detail":"video not found"}`)
		}
	}))
	defer srv.Close()
	recorder := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		routes = append(routes, api.Route(r.Context()))
		return http.DefaultTransport.RoundTrip(r)
	})
	c := &api.Client{UserURL: srv.URL, VideoURL: srv.URL, HistoryURL: srv.URL, HTTP: &http.Client{Transport: recorder}}

	p, err := c.PutProgress(t.Context(), "tok", "a/b", 42)
	if err != nil || p.PositionSeconds != 42 || p.Title != "T" {
		t.Fatalf("PutProgress = %+v, %v", p, err)
	}
	page, err := c.ListVideos(t.Context(), "movie", 2, "c1")
	if err != nil || len(page.Items) != 1 || page.NextCursor != "" {
		t.Fatalf("ListVideos = %+v, %v", page, err)
	}
	_, err = c.GetVideo(t.Context(), "nope")
	var apiErr *api.Error
	if !errors.As(err, &apiErr) || api.StatusOf(err) != http.StatusNotFound || apiErr.Detail != "video not found" {
		t.Fatalf("GetVideo of an unknown id: %v", err)
	}
	if !strings.Contains(err.Error(), "GET /v1/videos/{id}: 404 Not Found: video not found") {
		t.Errorf("error text %q", err)
	}
	want := []string{"PUT /v1/history/{video_id}", "GET /v1/videos", "GET /v1/videos/{id}"}
	if strings.Join(routes, "|") != strings.Join(want, "|") {
		t.Errorf("routes in request contexts = %q, want %q", routes, want)
	}

	srv.Close()
	if _, err := c.GetVideo(t.Context(), "x"); err == nil || api.StatusOf(err) != 0 {
		t.Errorf("a refused connection: %v, want an error without a status", err)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
