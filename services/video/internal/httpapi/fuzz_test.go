package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/vidstream/vidstream/services/internal/apperr"
	"github.com/vidstream/vidstream/services/internal/auth"
	"github.com/vidstream/vidstream/services/internal/database"
	"github.com/vidstream/vidstream/services/internal/database/databasetest"
	"github.com/vidstream/vidstream/services/internal/outbox"
	"github.com/vidstream/vidstream/services/internal/service"
	"github.com/vidstream/vidstream/services/internal/telemetry"
	"github.com/vidstream/vidstream/services/video/internal/domain"
	"github.com/vidstream/vidstream/services/video/internal/httpapi"
	"github.com/vidstream/vidstream/services/video/internal/store"
)

// openStore returns the real store over a fresh database of dialect d, with
// the real outbox, whose events no relay publishes here.
func openStore(tb testing.TB, d database.Dialect) *store.Store {
	tb.Helper()
	db := databasetest.Open(tb, d, store.Migrations())
	if err := outbox.Migrate(tb.Context(), db); err != nil {
		tb.Fatalf("migrate outbox: %v", err)
	}
	return store.New(db, outbox.New(db, "/services/video", telemetry.Noop()))
}

// fixedAuth accepts one token for one user. The fuzz target exercises
// decoding and validation; the real user service would only add a network
// hop per input (the app tests cover that path).
func fixedAuth(token string, user uuid.UUID) auth.Authenticator {
	return auth.AuthenticatorFunc(func(_ context.Context, got string) (auth.Principal, error) {
		if got != token {
			return auth.Principal{}, apperr.New(apperr.Unauthenticated, "unknown token")
		}
		return auth.Principal{UserID: user, Token: got}, nil
	})
}

// FuzzCreateVideo posts arbitrary bodies to POST /v1/videos over a real
// SQLite store: whatever arrives, the answer is never a server error, a
// rejection is problem+json, and an acceptance is a well-formed video. With
// PostgreSQL configured every input also goes to a PostgreSQL-backed server,
// which must answer with the same status: the backends must not disagree on
// what is valid.
func FuzzCreateVideo(f *testing.F) {
	for _, seed := range []string{
		`{"title":"Metropolis","kind":"movie","duration_seconds":9000,"release_year":1927}`,
		`{"title":"Pilot","kind":"episode","duration_seconds":1800,"series_title":"S","season":1,"episode":1}`,
		`{"title":"x","kind":"movie","duration_seconds":1,"season":null,"description":""}`,
		`{"title":"","kind":"","duration_seconds":0}`,
		`{"title":"x","kind":"movie","duration_seconds":99999999999999999999}`,
		`{"title":"x","kind":"movie","duration_seconds":-1,"release_year":-2147483649}`,
		`{"title":"\u0000","kind":"episode","duration_seconds":1,"series_title":" ","season":0,"episode":2147483648}`,
		`{"title":"x"} trailing`,
		`{"unknown":true}`,
		`[]`, `null`, `""`, `{`, ``, `{"title":{"nested":1}}`,
	} {
		f.Add([]byte(seed))
	}

	user := uuid.New()
	newHandler := func(d database.Dialect) http.Handler {
		return httpapi.NewServer(service.NewRouter("video", telemetry.Noop(), nil, httpapi.OpenAPI), httpapi.Deps{
			Service: domain.NewService(openStore(f, d)),
			Auth:    fixedAuth("fuzz-token", user),
		})
	}
	h := newHandler(database.SQLite)
	var pg http.Handler
	if os.Getenv(databasetest.PostgresURLEnv) != "" {
		pg = newHandler(database.Postgres)
	}

	f.Fuzz(func(t *testing.T, body []byte) {
		post := func(h http.Handler) *httptest.ResponseRecorder {
			req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/v1/videos", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer fuzz-token")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			return rec
		}
		rec := post(h)
		if pg != nil {
			if pgRec := post(pg); pgRec.Code != rec.Code {
				t.Fatalf("body %q: SQLite answered %d, PostgreSQL %d: %s", body, rec.Code, pgRec.Code, pgRec.Body)
			}
		}

		switch {
		case rec.Code >= 500:
			t.Fatalf("body %q: status %d: %s", body, rec.Code, rec.Body)
		case rec.Code == http.StatusCreated:
			var v struct {
				ID, Kind, OwnerID string
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
				t.Fatalf("body %q: 201 with undecodable video: %v", body, err)
			}
			if _, err := uuid.Parse(v.ID); err != nil || (v.Kind != "movie" && v.Kind != "episode") {
				t.Fatalf("body %q: 201 with bad video %s", body, rec.Body)
			}
		case rec.Code >= 400:
			if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
				t.Fatalf("body %q: %d with Content-Type %q", body, rec.Code, ct)
			}
		default:
			t.Fatalf("body %q: unexpected status %d", body, rec.Code)
		}
	})
}

// fuzzStatus checks what every fuzzed request must get: no server error, a
// problem document for a rejection, JSON for an acceptance.
func fuzzStatus(t *testing.T, input string, rec *httptest.ResponseRecorder) {
	t.Helper()
	switch {
	case rec.Code >= 500:
		t.Fatalf("%q: status %d: %s", input, rec.Code, rec.Body)
	case rec.Code >= 400:
		if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
			t.Fatalf("%q: %d with Content-Type %q", input, rec.Code, ct)
		}
	case rec.Code >= 200 && rec.Code < 300:
		if !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("%q: %d with a body that is not JSON: %s", input, rec.Code, rec.Body)
		}
	default:
		t.Fatalf("%q: unexpected status %d", input, rec.Code)
	}
}

// FuzzUpdateVideo sends arbitrary merge patches to PATCH /v1/videos/{id} of
// one movie and one episode, over a real SQLite store.
func FuzzUpdateVideo(f *testing.F) {
	for _, seed := range []string{
		`{"title":"Metropolis (restored)"}`,
		`{"description":null}`,
		`{"kind":"episode"}`,
		`{"episode":null}`,
		`{"season":2,"episode":3,"series_title":"S"}`,
		`{"duration_seconds":0}`,
		`{"release_year":99999999999}`,
		`{"title":null}`,
		`{}`, `[]`, `null`, `{`, ``, `{"unknown":1}`,
	} {
		f.Add([]byte(seed), false)
		f.Add([]byte(seed), true)
	}
	user := uuid.New()
	svc := domain.NewService(openStore(f, database.SQLite))
	h := httpapi.NewServer(service.NewRouter("video", telemetry.Noop(), nil, httpapi.OpenAPI), httpapi.Deps{
		Service: svc, Auth: fixedAuth("fuzz-token", user),
	})
	movie, err := svc.Create(f.Context(), user, domain.NewVideo{Title: "Metropolis", Kind: domain.KindMovie, DurationSeconds: 9000})
	if err != nil {
		f.Fatal(err)
	}
	series, season, episode := "S", 1, 1
	ep, err := svc.Create(f.Context(), user, domain.NewVideo{Title: "Pilot", Kind: domain.KindEpisode, DurationSeconds: 1800,
		SeriesTitle: &series, Season: &season, Episode: &episode})
	if err != nil {
		f.Fatal(err)
	}

	f.Fuzz(func(t *testing.T, body []byte, onEpisode bool) {
		id := movie.ID
		if onEpisode {
			id = ep.ID
		}
		req := httptest.NewRequestWithContext(t.Context(), http.MethodPatch, "/v1/videos/"+id.String(), bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/merge-patch+json")
		req.Header.Set("Authorization", "Bearer fuzz-token")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		fuzzStatus(t, string(body), rec)
	})
}

// FuzzListVideos sends arbitrary query strings to the catalog's list
// endpoints (limit, cursor, kind, ...).
func FuzzListVideos(f *testing.F) {
	for _, seed := range []string{"limit=10", "limit=", "limit=-1", "limit=1e3", "cursor=abc", "kind=movie&limit=2",
		"kind=", "cursor=%00%ff", "limit=99999999999999999999", "a=b&a=c"} {
		f.Add(seed, false)
		f.Add(seed, true)
	}
	svc := domain.NewService(openStore(f, database.SQLite))
	h := httpapi.NewServer(service.NewRouter("video", telemetry.Noop(), nil, httpapi.OpenAPI), httpapi.Deps{
		Service: svc, Auth: fixedAuth("fuzz-token", uuid.New()),
	})
	for i := range 3 {
		if _, err := svc.Create(f.Context(), uuid.New(), domain.NewVideo{Title: "V" + strconv.Itoa(i), Kind: domain.KindMovie, DurationSeconds: 60}); err != nil {
			f.Fatal(err)
		}
	}
	f.Fuzz(func(t *testing.T, query string, popular bool) {
		path := "/v1/videos"
		if popular {
			path = "/v1/videos/popular"
		}
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, path, nil)
		if err != nil {
			t.Skip()
		}
		req.URL.RawQuery = query
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		fuzzStatus(t, query, rec)
	})
}
