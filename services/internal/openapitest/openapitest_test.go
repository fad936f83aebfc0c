package openapitest_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/vidstream/vidstream/services/internal/openapitest"
)

func noop(http.ResponseWriter, *http.Request) {}

func router() chi.Router {
	r := chi.NewRouter()
	r.Get("/healthz", noop)
	r.Get("/openapi.json", noop)
	r.Route("/v1/videos", func(r chi.Router) {
		r.Post("/", noop)
		r.Get("/{id}", noop)
		r.Delete("/{id:[0-9a-f-]+}", noop)
	})
	r.Post("/v1/sessions", noop)
	return r
}

const spec = `{
  "openapi": "3.1.0",
  "info": {"title": "video", "version": "1"},
  "paths": {
    "/v1/videos": {"post": {}, "parameters": []},
    "/v1/videos/{id}": {"summary": "one video", "get": {}, "delete": {}},
    "/v1/sessions": {"post": {}}
  }
}`

func TestCompareMatchingRouterAndDocument(t *testing.T) {
	r, err := openapitest.Compare(router(), []byte(spec))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Undocumented) != 0 || len(r.Unrouted) != 0 {
		t.Errorf("report = %+v, want no differences", r)
	}
	openapitest.AssertRoutesDocumented(t, router(), []byte(spec))
}

func TestCompareFindsBothDirections(t *testing.T) {
	rt := router()
	rt.Patch("/v1/videos/{id}", noop)
	rt.Get("/metrics", noop) // operational: never reported
	doc := strings.Replace(spec, `"/v1/sessions": {"post": {}}`,
		`"/v1/sessions": {"post": {}, "delete": {}}, "/v1/users/{id}": {"get": {}}, "/healthz": {"get": {}}`, 1)

	r, err := openapitest.Compare(rt, []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"PATCH /v1/videos/{id}"}; !slices.Equal(r.Undocumented, want) {
		t.Errorf("Undocumented = %v, want %v", r.Undocumented, want)
	}
	if want := []string{"DELETE /v1/sessions", "GET /v1/users/{id}"}; !slices.Equal(r.Unrouted, want) {
		t.Errorf("Unrouted = %v, want %v", r.Unrouted, want)
	}
}

func TestCompareRejectsBadDocuments(t *testing.T) {
	for name, doc := range map[string]string{
		"not JSON":    `openapi: 3.1.0`,
		"OpenAPI 3.0": `{"openapi": "3.0.3", "paths": {}}`,
		"Swagger 2":   `{"swagger": "2.0", "paths": {}}`,
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := openapitest.Compare(router(), []byte(doc)); err == nil {
				t.Error("Compare accepted the document")
			}
		})
	}
}

// recordingTB captures failures instead of failing the real test.
type recordingTB struct {
	testing.TB
	errors []string
	fatal  bool
}

func (r *recordingTB) Helper() {}
func (r *recordingTB) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}
func (r *recordingTB) Fatalf(format string, args ...any) {
	r.Errorf(format, args...)
	r.fatal = true
}

func TestAssertRoutesDocumentedListsEveryDifference(t *testing.T) {
	rt := router()
	rt.Put("/v1/videos/{id}", noop)
	rt.Get("/v1/feed", noop)
	rec := &recordingTB{}
	openapitest.AssertRoutesDocumented(rec, rt, []byte(spec))
	got := strings.Join(rec.errors, "\n")
	for _, want := range []string{"GET /v1/feed", "PUT /v1/videos/{id}"} {
		if !strings.Contains(got, want) {
			t.Errorf("failure message lacks %q:\n%s", want, got)
		}
	}

	rec = &recordingTB{}
	openapitest.AssertRoutesDocumented(rec, rt, []byte(`{`))
	if !rec.fatal {
		t.Error("a broken document did not fail the test fatally")
	}
}
