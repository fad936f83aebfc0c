package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/vidstream/vidstream/services/internal/database/databasetest"
	"github.com/vidstream/vidstream/services/internal/outbox"
	"github.com/vidstream/vidstream/services/internal/service"
	"github.com/vidstream/vidstream/services/internal/telemetry"
	"github.com/vidstream/vidstream/services/user/internal/domain"
	"github.com/vidstream/vidstream/services/user/internal/httpapi"
	"github.com/vidstream/vidstream/services/user/internal/store"
)

func newHandler(tb testing.TB) http.Handler {
	tb.Helper()
	db := databasetest.OpenSQLite(tb, store.Migrations())
	if err := outbox.Migrate(tb.Context(), db); err != nil {
		tb.Fatalf("migrate outbox: %v", err)
	}
	st := store.New(db, outbox.New(db, "/services/user", telemetry.Noop()))
	svc, err := domain.NewService(tb.Context(), st, domain.Config{
		Argon2: domain.Argon2Params{MemoryKiB: 8, Iterations: 1, Parallelism: 1},
		// Throttling would turn most fuzz inputs into 429s and hide the
		// decoding and validation paths under test.
		LoginMaxFailures:      -1,
		LoginMaxFailuresPerIP: -1,
	})
	if err != nil {
		tb.Fatalf("NewService: %v", err)
	}
	return httpapi.NewServer(service.NewRouter("user", telemetry.Noop(), nil, httpapi.OpenAPI), httpapi.Deps{Service: svc})
}

var fuzzSeeds = []string{
	`{"email":"ann@example.com","password":"password1","display_name":"Ann"}`,
	`{"email":"ann@example.com","password":"password1"}`,
	`{"email":"ANN@example.com ","password":"password1","display_name":"Ann"}`,
	`{"email":"Ann <ann@example.com>","password":"p","display_name":""}`,
	`{"email":1,"password":null,"display_name":[]}`,
	`{"email":"a@b","password":"` + strings.Repeat("é", 300) + `","display_name":"\u0000"}`,
	`{"unknown":true}`,
	`{"email":"a@b.c"} trailing`,
	`{"email":`,
	`[]`, `null`, `""`, ``, "\xff\xfe",
}

// fuzzPost posts body to path and fails on any 5xx: no request body may make
// the server fault, and every error must be a problem document.
func fuzzPost(f *testing.F, path string) {
	f.Helper()
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	h := newHandler(f)
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("POST %s %q = %d: %s", path, body, rec.Code, rec.Body)
		}
		if rec.Code >= 400 && rec.Header().Get("Content-Type") != "application/problem+json" {
			t.Fatalf("POST %s %q = %d with Content-Type %q", path, body, rec.Code, rec.Header().Get("Content-Type"))
		}
	})
}

func FuzzCreateUser(f *testing.F) { fuzzPost(f, "/v1/users") }

func FuzzCreateSession(f *testing.F) { fuzzPost(f, "/v1/sessions") }
