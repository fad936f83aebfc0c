package app_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/vidstream/vidstream/services/internal/grpcx"
	"github.com/vidstream/vidstream/services/internal/kafkabus/kafkatest"
	"github.com/vidstream/vidstream/services/internal/loopback"
	"github.com/vidstream/vidstream/services/internal/telemetry"
)

// TestREST runs the REST scenarios against watch history on each database
// backend: the API's behavior must not depend on it.
func TestREST(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			e := newEnv(t, b.db)
			t.Run("ProgressLifecycle", progressLifecycle(e))
			t.Run("Rejects", rejects(e))
			t.Run("Pagination", pagination(e))
			t.Run("HistoriesArePrivate", private(e))
		})
	}
}

func progressLifecycle(e *env) func(t *testing.T) {
	return func(t *testing.T) {
		owner, viewer := e.newUser(t), e.newUser(t)
		v := e.newVideo(t, owner, "Night Train", 100)

		before := time.Now().Add(-time.Second)
		got := e.put(t, viewer, v.ID, 10)
		if got.VideoID != v.ID || got.Title != "Night Train" || got.PositionSeconds != 10 || got.DurationSeconds != 100 ||
			got.Completed || got.UpdatedAt.Before(before) {
			t.Fatalf("first report = %+v", got)
		}
		if got = e.put(t, viewer, v.ID, 0); got.PositionSeconds != 0 {
			t.Fatalf("position 0 (the start) = %+v", got)
		}
		if got = e.put(t, viewer, v.ID, 89); got.Completed {
			t.Fatalf("89%% counted as completed: %+v", got)
		}
		if got = e.put(t, viewer, v.ID, 90); !got.Completed {
			t.Fatalf("90%% not completed: %+v", got)
		}
		// Rewinding keeps the video completed (see the domain package doc).
		if got = e.put(t, viewer, v.ID, 5); !got.Completed || got.PositionSeconds != 5 {
			t.Fatalf("after rewinding = %+v, want completed at 5 s", got)
		}
		if got = e.put(t, viewer, v.ID, 100); got.PositionSeconds != 100 {
			t.Fatalf("position at the very end = %+v", got)
		}
		// Found by the API fuzzer (make api-fuzz): JSON Schema, which the
		// OpenAPI document uses, calls 30.0 and 3e1 integers; they were 400s.
		for _, body := range []string{`{"position_seconds": 30.0}`, `{"position_seconds": 3e1}`} {
			r := e.history(t, http.MethodPut, "/v1/history/"+v.ID, viewer.token, body)
			var entry struct {
				PositionSeconds int `json:"position_seconds"`
			}
			if r.Status != http.StatusOK {
				t.Fatalf("PUT %s: %d %s", body, r.Status, r.Body)
			}
			if r.Decode(t, &entry); entry.PositionSeconds != 30 {
				t.Fatalf("PUT %s: position %d, want 30", body, entry.PositionSeconds)
			}
		}
		got = e.put(t, viewer, v.ID, 100)

		p := e.list(t, viewer, "")
		if len(p.Items) != 1 || p.NextCursor != nil || p.Items[0] != got {
			t.Fatalf("listing = %+v, want exactly %+v", p, got)
		}

		if r := e.history(t, http.MethodDelete, "/v1/history/"+v.ID, viewer.token, nil); r.Status != http.StatusNoContent || len(r.Body) != 0 {
			t.Fatalf("DELETE: %d %s", r.Status, r.Body)
		}
		if p := e.list(t, viewer, ""); len(p.Items) != 0 || p.Items == nil {
			t.Fatalf("listing after delete = %+v, want an empty items array", p)
		}
		assertProblem(t, e.history(t, http.MethodDelete, "/v1/history/"+v.ID, viewer.token, nil), http.StatusNotFound, "")
	}
}

func rejects(e *env) func(t *testing.T) {
	return func(t *testing.T) {
		owner, viewer := e.newUser(t), e.newUser(t)
		v := e.newVideo(t, owner, "Short", 60)
		put := "/v1/history/" + v.ID

		revoked := e.newUser(t)
		if r := e.request(t, http.MethodDelete, e.userURL+"/v1/sessions/current", revoked.token, nil); r.Status != http.StatusNoContent {
			t.Fatalf("logout: %d %s", r.Status, r.Body)
		}

		tooLarge := `{"position_seconds": 1, "pad": "` + strings.Repeat("x", 1<<20) + `"}`
		for _, tc := range []struct {
			name    string
			method  string
			path    string
			token   string
			body    any
			headers []string
			status  int
			field   string
		}{
			{"malformed JSON", http.MethodPut, put, viewer.token, `{"position_seconds": `, nil, http.StatusBadRequest, ""},
			{"not an object", http.MethodPut, put, viewer.token, `[1]`, nil, http.StatusBadRequest, ""},
			{"empty body", http.MethodPut, put, viewer.token, ``, nil, http.StatusBadRequest, ""},
			{"trailing data", http.MethodPut, put, viewer.token, `{"position_seconds": 1} {}`, nil, http.StatusBadRequest, ""},
			{"unknown field", http.MethodPut, put, viewer.token, `{"position_seconds": 1, "speed": 2}`, nil, http.StatusBadRequest, "speed"},
			{"wrong type", http.MethodPut, put, viewer.token, `{"position_seconds": "10"}`, nil, http.StatusBadRequest, "position_seconds"},
			{"fraction", http.MethodPut, put, viewer.token, `{"position_seconds": 1.5}`, nil, http.StatusBadRequest, "position_seconds"},
			{"missing position", http.MethodPut, put, viewer.token, `{}`, nil, http.StatusBadRequest, "position_seconds"},
			{"null position", http.MethodPut, put, viewer.token, `{"position_seconds": null}`, nil, http.StatusBadRequest, "position_seconds"},
			{"negative", http.MethodPut, put, viewer.token, `{"position_seconds": -1}`, nil, http.StatusBadRequest, "position_seconds"},
			{"beyond duration", http.MethodPut, put, viewer.token, `{"position_seconds": 61}`, nil, http.StatusBadRequest, "position_seconds"},
			{"huge", http.MethodPut, put, viewer.token, `{"position_seconds": 99999999999999999999}`, nil, http.StatusBadRequest, "position_seconds"},
			{"body over 1 MiB", http.MethodPut, put, viewer.token, tooLarge, nil, http.StatusRequestEntityTooLarge, ""},
			{"not JSON content type", http.MethodPut, put, viewer.token, `{"position_seconds": 1}`, []string{"Content-Type", "text/plain"}, http.StatusUnsupportedMediaType, ""},
			{"malformed video id", http.MethodPut, "/v1/history/not-a-uuid", viewer.token, `{"position_seconds": 1}`, nil, http.StatusBadRequest, "video_id"},
			{"unknown video", http.MethodPut, "/v1/history/" + uuid.NewString(), viewer.token, `{"position_seconds": 1}`, nil, http.StatusNotFound, ""},
			{"no token", http.MethodPut, put, "", `{"position_seconds": 1}`, nil, http.StatusUnauthorized, ""},
			{"not a bearer token", http.MethodPut, put, "", `{"position_seconds": 1}`, []string{"Authorization", "Basic dXNlcjpwdw=="}, http.StatusUnauthorized, ""},
			{"unknown token", http.MethodPut, put, "bm90LWEtdG9rZW4", `{"position_seconds": 1}`, nil, http.StatusUnauthorized, ""},
			{"revoked token", http.MethodPut, put, revoked.token, `{"position_seconds": 1}`, nil, http.StatusUnauthorized, ""},
			{"list without token", http.MethodGet, "/v1/history", "", nil, nil, http.StatusUnauthorized, ""},
			{"list with revoked token", http.MethodGet, "/v1/history", revoked.token, nil, nil, http.StatusUnauthorized, ""},
			{"list limit zero", http.MethodGet, "/v1/history?limit=0", viewer.token, nil, nil, http.StatusBadRequest, "limit"},
			{"list limit too big", http.MethodGet, "/v1/history?limit=101", viewer.token, nil, nil, http.StatusBadRequest, "limit"},
			{"list limit not a number", http.MethodGet, "/v1/history?limit=ten", viewer.token, nil, nil, http.StatusBadRequest, "limit"},
			// Found by the API fuzzer (make api-fuzz): an empty limit was taken as absent.
			{"list limit empty", http.MethodGet, "/v1/history?limit=", viewer.token, nil, nil, http.StatusBadRequest, "limit"},
			{"list malformed cursor", http.MethodGet, "/v1/history?cursor=" + url.QueryEscape("not a cursor"), viewer.token, nil, nil, http.StatusBadRequest, "cursor"},
			{"delete without token", http.MethodDelete, put, "", nil, nil, http.StatusUnauthorized, ""},
			{"delete malformed id", http.MethodDelete, "/v1/history/42", viewer.token, nil, nil, http.StatusBadRequest, "video_id"},
			{"delete unknown entry", http.MethodDelete, "/v1/history/" + uuid.NewString(), viewer.token, nil, nil, http.StatusNotFound, ""},
			{"unknown route", http.MethodGet, "/v1/histories", viewer.token, nil, nil, http.StatusNotFound, ""},
			{"wrong method", http.MethodPost, "/v1/history", viewer.token, `{}`, nil, http.StatusMethodNotAllowed, ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := e.history(t, tc.method, tc.path, tc.token, tc.body, tc.headers...)
				assertProblem(t, r, tc.status, tc.field)
				if tc.status == http.StatusUnauthorized && !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("401 without a Bearer challenge: %q", r.Header.Get("WWW-Authenticate"))
				}
			})
		}
		// None of the rejected reports was saved.
		if p := e.list(t, viewer, ""); len(p.Items) != 0 {
			t.Fatalf("rejected requests left entries: %+v", p.Items)
		}
	}
}

func pagination(e *env) func(t *testing.T) {
	return func(t *testing.T) {
		owner, viewer := e.newUser(t), e.newUser(t)
		var want []string // newest first
		for i := range 5 {
			v := e.newVideo(t, owner, "Episode", 100)
			e.put(t, viewer, v.ID, i)
			want = append([]string{v.ID}, want...)
		}
		// Reporting on the oldest again moves it to the top.
		e.put(t, viewer, want[4], 50)
		want = append([]string{want[4]}, want[:4]...)

		var got []string
		query := "?limit=2"
		for pages := 1; ; pages++ {
			if pages > 3 {
				t.Fatalf("more than 3 pages of 2 for 5 entries")
			}
			p := e.list(t, viewer, query)
			for _, it := range p.Items {
				got = append(got, it.VideoID)
				if it.Title != "Episode" {
					t.Fatalf("entry without its title: %+v", it)
				}
			}
			if p.NextCursor == nil {
				break
			}
			query = "?limit=2&cursor=" + url.QueryEscape(*p.NextCursor)
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("paged order:\n got %v\nwant %v", got, want)
		}
		if p := e.list(t, viewer, "?limit=100"); len(p.Items) != 5 || p.NextCursor != nil {
			t.Fatalf("one big page: %d items, next %v", len(p.Items), p.NextCursor)
		}
	}
}

func private(e *env) func(t *testing.T) {
	return func(t *testing.T) {
		owner, alice, bob := e.newUser(t), e.newUser(t), e.newUser(t)
		v := e.newVideo(t, owner, "Shared", 100)
		e.put(t, alice, v.ID, 30)
		if p := e.list(t, bob, ""); len(p.Items) != 0 {
			t.Fatalf("bob sees alice's history: %+v", p.Items)
		}
		// Bob deleting "his" entry must not touch alice's.
		assertProblem(t, e.history(t, http.MethodDelete, "/v1/history/"+v.ID, bob.token, nil), http.StatusNotFound, "")
		if p := e.list(t, alice, ""); len(p.Items) != 1 {
			t.Fatalf("alice's history after bob's delete: %+v", p.Items)
		}
	}
}

// TestVideoServiceDown: with the catalog unreachable a report cannot be
// checked, so it is refused with 503 (retryable), not saved unchecked;
// reading and deleting history need no catalog and keep working.
func TestVideoServiceDown(t *testing.T) {
	e := startDependencies(t, kafkatest.Broker(t))
	cfg := historyConfig(t, e, sqliteBackend(t))
	cfg.VideoGRPCAddr = loopback.FreeAddr(t)
	e.startHistory(t, cfg, telemetry.Noop())

	viewer := e.newUser(t)
	r := e.history(t, http.MethodPut, "/v1/history/"+uuid.NewString(), viewer.token, `{"position_seconds": 1}`)
	assertProblem(t, r, http.StatusServiceUnavailable, "")
	if p := e.list(t, viewer, ""); len(p.Items) != 0 {
		t.Fatalf("listing = %+v", p)
	}
}

// TestUserServiceDown: no token can be checked, so every call is 503 with
// a Retry-After; after a few failures the circuit breaker opens and the
// Retry-After becomes the breaker's open period.
func TestUserServiceDown(t *testing.T) {
	e := startDependencies(t, kafkatest.Broker(t))
	cfg := historyConfig(t, e, sqliteBackend(t))
	cfg.UserGRPCAddr = loopback.FreeAddr(t)
	e.startHistory(t, cfg, telemetry.Noop())

	var last string
	for range grpcx.DefaultResilience.FailureThreshold + 1 {
		r := e.history(t, http.MethodGet, "/v1/history", "some-token", nil)
		assertProblem(t, r, http.StatusServiceUnavailable, "")
		last = r.Header.Get("Retry-After")
		if n, err := strconv.Atoi(last); err != nil || n < 1 {
			t.Fatalf("Retry-After = %q, want a positive number of seconds", last)
		}
	}
	if want := strconv.Itoa(int(grpcx.DefaultResilience.OpenFor.Seconds())); last != want {
		t.Fatalf("Retry-After with the breaker open = %q, want %s", last, want)
	}
}

func TestProbesAndOpenAPI(t *testing.T) {
	e := newEnv(t, sqliteBackend)
	for _, path := range []string{"/healthz", "/readyz", "/metrics", "/openapi.json"} {
		if r := e.history(t, http.MethodGet, path, "", nil); r.Status != http.StatusOK {
			t.Errorf("GET %s: %d %s", path, r.Status, r.Body)
		}
	}
	var doc struct {
		OpenAPI string `json:"openapi"`
	}
	e.history(t, http.MethodGet, "/openapi.json", "", nil).Decode(t, &doc)
	if !strings.HasPrefix(doc.OpenAPI, "3.1") {
		t.Fatalf("openapi = %q, want 3.1.x", doc.OpenAPI)
	}
}
