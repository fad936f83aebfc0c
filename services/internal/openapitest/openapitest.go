// Package openapitest checks that a service's router and its OpenAPI
// document describe the same API: every route is documented and every
// documented operation is routed. Run from each service's httpapi tests, it
// keeps the published contract (and the API fuzzer CI runs against it) from
// drifting away from the code.
package openapitest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
)

// Operational endpoints every service serves outside its API contract. They
// may be documented, but need not be.
var operational = map[string]bool{
	"/healthz":      true,
	"/readyz":       true,
	"/metrics":      true,
	"/openapi.json": true,
}

// Report is the difference between a router and an OpenAPI document, each
// entry "METHOD /path", sorted.
type Report struct {
	Undocumented []string // routed, not in the document
	Unrouted     []string // in the document, not routed
}

// AssertRoutesDocumented fails t listing every route of routes missing from
// spec (an OpenAPI 3.1 JSON document) and every operation of spec that
// routes does not serve.
func AssertRoutesDocumented(tb testing.TB, routes chi.Routes, spec []byte) {
	tb.Helper()
	r, err := Compare(routes, spec)
	if err != nil {
		tb.Fatalf("openapitest: %v", err)
		return // reached only with a fake testing.TB
	}
	if len(r.Undocumented) > 0 {
		tb.Errorf("routes missing from the OpenAPI document:\n\t%s", strings.Join(r.Undocumented, "\n\t"))
	}
	if len(r.Unrouted) > 0 {
		tb.Errorf("OpenAPI operations the router does not serve:\n\t%s", strings.Join(r.Unrouted, "\n\t"))
	}
}

// Compare computes the Report for routes and spec.
func Compare(routes chi.Routes, spec []byte) (Report, error) {
	documented, err := documentedOperations(spec)
	if err != nil {
		return Report{}, err
	}
	routed := map[string]bool{}
	err = chi.Walk(routes, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		routed[operation(method, normalize(route))] = true
		return nil
	})
	if err != nil {
		return Report{}, fmt.Errorf("walk routes: %w", err)
	}

	var r Report
	for op := range routed {
		_, path, _ := strings.Cut(op, " ")
		if !documented[op] && !operational[path] {
			r.Undocumented = append(r.Undocumented, op)
		}
	}
	for op := range documented {
		if !routed[op] {
			r.Unrouted = append(r.Unrouted, op)
		}
	}
	slices.Sort(r.Undocumented)
	slices.Sort(r.Unrouted)
	return r, nil
}

// httpMethods are the operation keys of an OpenAPI path item; the other keys
// (parameters, summary, servers, ...) are not operations.
var httpMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

func documentedOperations(spec []byte) (map[string]bool, error) {
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(spec, &doc); err != nil {
		return nil, fmt.Errorf("parse OpenAPI document: %w", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.1") {
		return nil, fmt.Errorf("OpenAPI document declares version %q, want 3.1.x", doc.OpenAPI)
	}
	ops := map[string]bool{}
	for path, item := range doc.Paths {
		for key := range item {
			if slices.Contains(httpMethods, key) {
				ops[operation(key, normalize(path))] = true
			}
		}
	}
	return ops, nil
}

func operation(method, path string) string {
	return strings.ToUpper(method) + " " + path
}

// paramPattern matches a chi parameter with a regexp, "{id:[0-9]+}", whose
// OpenAPI spelling is just "{id}".
var paramPattern = regexp.MustCompile(`\{([^{}:]+):[^{}]*\}`)

// normalize brings chi patterns and OpenAPI paths to one spelling. chi.Walk
// reports the root of a subrouter as "/v1/users/" and a mounted handler as
// "/static/*", both of which OpenAPI writes without the suffix.
func normalize(path string) string {
	path = paramPattern.ReplaceAllString(path, "{$1}")
	path = strings.TrimSuffix(path, "/*")
	if len(path) > 1 {
		path = strings.TrimSuffix(path, "/")
	}
	if path == "" {
		path = "/"
	}
	return path
}
