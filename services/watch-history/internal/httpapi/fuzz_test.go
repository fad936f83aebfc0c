package httpapi_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/vidstream/vidstream/services/internal/apperr"
	"github.com/vidstream/vidstream/services/internal/auth"
	"github.com/vidstream/vidstream/services/internal/database/databasetest"
	"github.com/vidstream/vidstream/services/internal/outbox"
	"github.com/vidstream/vidstream/services/internal/service"
	"github.com/vidstream/vidstream/services/internal/telemetry"
	"github.com/vidstream/vidstream/services/watch-history/internal/domain"
	"github.com/vidstream/vidstream/services/watch-history/internal/httpapi"
	"github.com/vidstream/vidstream/services/watch-history/internal/store"
)

type discard struct{}

func (discard) Enqueue(context.Context, *sql.Tx, ...outbox.Event) error { return nil }
func (discard) Notify()                                                 {}

type oneVideo domain.Video

func (v oneVideo) Video(_ context.Context, id uuid.UUID) (domain.Video, error) {
	if id != v.ID {
		return domain.Video{}, apperr.New(apperr.NotFound, "video %s not found", id)
	}
	return domain.Video(v), nil
}

// FuzzPutProgress throws arbitrary bodies at PUT /v1/history/{video_id}.
// Whatever the body, the answer is a 200 with an entry that reflects a valid
// position, or a 400 problem: never a 5xx, never a 200 for a body the
// contract rejects.
func FuzzPutProgress(f *testing.F) {
	const duration = 600
	video := domain.Video{ID: uuid.New(), Title: "Night Train", DurationSeconds: duration, UpdatedAt: time.Now()}
	user := uuid.New()
	db := databasetest.OpenSQLite(f, store.Migrations())
	h := httpapi.NewServer(service.NewRouter("watch-history", telemetry.Noop(), nil, httpapi.OpenAPI), httpapi.Deps{
		Service: domain.NewService(store.New(db, discard{}), oneVideo(video)),
		Auth: auth.AuthenticatorFunc(func(context.Context, string) (auth.Principal, error) {
			return auth.Principal{UserID: user}, nil
		}),
	})

	for _, seed := range []string{
		`{"position_seconds": 10}`, `{"position_seconds": 0}`, `{"position_seconds": 600}`,
		`{"position_seconds": 601}`, `{"position_seconds": -1}`, `{"position_seconds": 1.5}`,
		`{"position_seconds": 1e2}`, `{"position_seconds": 100.0}`, `{"position_seconds": 6.005e2}`, `{"position_seconds": "10"}`, `{"position_seconds": null}`,
		`{"position_seconds": 10, "extra": 1}`, `{"position_seconds": 10} {}`, `{}`, `[]`, `null`, ``,
		`{"position_seconds": 99999999999999999999999}`, `{"POSITION_SECONDS": 5}`, `{"position_seconds":`,
	} {
		f.Add([]byte(seed))
	}

	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest(http.MethodPut, "/v1/history/"+video.ID.String(), bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer token")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)

		switch rec.Code {
		case http.StatusOK:
			want, ok := validPosition(body)
			if !ok {
				t.Fatalf("200 for a body the contract rejects: %q", body)
			}
			var got struct {
				PositionSeconds int `json:"position_seconds"`
				DurationSeconds int `json:"duration_seconds"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
				t.Fatalf("200 with undecodable body %q: %v", rec.Body, err)
			}
			if got.PositionSeconds != want || got.DurationSeconds != duration {
				t.Fatalf("body %q saved position %d of %d", body, got.PositionSeconds, got.DurationSeconds)
			}
		case http.StatusBadRequest:
			if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
				t.Fatalf("400 with Content-Type %q", ct)
			}
			if _, ok := validPosition(body); ok {
				t.Fatalf("400 for a valid body %q: %s", body, rec.Body)
			}
		default:
			t.Fatalf("status %d for body %q: %s", rec.Code, body, rec.Body)
		}
	})
}

// validPosition is an independent statement of what the contract accepts:
// one JSON object with exactly the integer field position_seconds in
// [0, 600], and nothing after it. An integer is one in JSON Schema's sense,
// as the OpenAPI document says: any number with a zero fractional part, so
// 1e2 and 100.0 are 100. (encoding/json matches field names case-
// insensitively, so the oracle does too.)
func validPosition(body []byte) (int, bool) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var req struct {
		PositionSeconds *json.RawMessage `json:"position_seconds"`
	}
	if err := dec.Decode(&req); err != nil || req.PositionSeconds == nil {
		return 0, false
	}
	var rest json.RawMessage
	if err := dec.Decode(&rest); !errors.Is(err, io.EOF) {
		return 0, false
	}
	lit := string(*req.PositionSeconds)
	if lit == "" || (lit[0] != '-' && (lit[0] < '0' || lit[0] > '9')) {
		return 0, false // not a number
	}
	// A huge exponent is never in range; big.Rat would expand it.
	if i := strings.IndexAny(lit, "eE"); i >= 0 {
		if exp, err := strconv.Atoi(lit[i+1:]); err != nil || exp > 10 {
			return 0, false
		}
	}
	r, ok := new(big.Rat).SetString(lit)
	if !ok || !r.IsInt() || r.Sign() < 0 || r.Cmp(big.NewRat(600, 1)) > 0 {
		return 0, false
	}
	return int(r.Num().Int64()), true
}

// FuzzListHistory sends arbitrary query strings (limit, cursor) to GET
// /v1/history of a user with a few entries: a 200 page of JSON or a 400
// problem, never a server error.
func FuzzListHistory(f *testing.F) {
	user := uuid.New()
	videos := map[uuid.UUID]domain.Video{}
	for i := range 3 {
		v := domain.Video{ID: uuid.New(), Title: "V" + strconv.Itoa(i), DurationSeconds: 600, UpdatedAt: time.Now()}
		videos[v.ID] = v
	}
	db := databasetest.OpenSQLite(f, store.Migrations())
	svc := domain.NewService(store.New(db, discard{}), catalogOf(videos))
	for id := range videos {
		if _, err := svc.RecordProgress(f.Context(), user, id, 10); err != nil {
			f.Fatal(err)
		}
	}
	h := httpapi.NewServer(service.NewRouter("watch-history", telemetry.Noop(), nil, httpapi.OpenAPI), httpapi.Deps{
		Service: svc,
		Auth: auth.AuthenticatorFunc(func(context.Context, string) (auth.Principal, error) {
			return auth.Principal{UserID: user}, nil
		}),
	})
	for _, seed := range []string{"", "limit=1", "limit=0", "limit=-1", "limit=", "limit=1e1", "limit=99999999999999999999",
		"cursor=", "cursor=abc", "cursor=%ff%00", "limit=2&cursor=eyJ4IjoxfQ", "limit=1&limit=2", "unknown=1"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, query string) {
		req := httptest.NewRequest(http.MethodGet, "/v1/history", nil)
		req.URL.RawQuery = query
		req.Header.Set("Authorization", "Bearer token")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusOK:
			if !json.Valid(rec.Body.Bytes()) {
				t.Fatalf("query %q: 200 with a body that is not JSON", query)
			}
		case http.StatusBadRequest:
			if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
				t.Fatalf("query %q: 400 with Content-Type %q", query, ct)
			}
		default:
			t.Fatalf("query %q: status %d: %s", query, rec.Code, rec.Body)
		}
	})
}

// catalogOf is a catalog of the given videos.
type catalogOf map[uuid.UUID]domain.Video

func (c catalogOf) Video(_ context.Context, id uuid.UUID) (domain.Video, error) {
	v, ok := c[id]
	if !ok {
		return domain.Video{}, apperr.New(apperr.NotFound, "video %s not found", id)
	}
	return v, nil
}
