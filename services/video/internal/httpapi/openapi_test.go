package httpapi

import (
	"encoding/json"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/vidstream/vidstream/services/internal/openapitest"
	"github.com/vidstream/vidstream/services/internal/service"
	"github.com/vidstream/vidstream/services/internal/telemetry"
)

// The published contract (and the API fuzzer CI runs against it) must be
// the API the router actually serves, in both directions.
func TestOpenAPIMatchesRouter(t *testing.T) {
	routes, ok := NewServer(service.NewRouter("video", telemetry.Noop(), nil, OpenAPI), Deps{}).(chi.Routes)
	if !ok {
		t.Fatal("NewServer no longer returns a chi router; walk its routes another way")
	}
	openapitest.AssertRoutesDocumented(t, routes, OpenAPI)
}

// TestOpenAPISchemasMatchWireTypes keeps the documented request and response
// members in step with the Go types that encode and decode them, and checks
// that every $ref resolves.
func TestOpenAPISchemasMatchWireTypes(t *testing.T) {
	var doc map[string]any
	if err := json.Unmarshal(OpenAPI, &doc); err != nil {
		t.Fatalf("openapi.json is not JSON: %v", err)
	}
	components, _ := doc["components"].(map[string]any)
	schemas, _ := components["schemas"].(map[string]any)
	props := func(name string) []string {
		s, _ := schemas[name].(map[string]any)
		p, ok := s["properties"].(map[string]any)
		if !ok {
			t.Fatalf("schema %s or its properties missing", name)
		}
		return slices.Sorted(maps.Keys(p))
	}
	for schema, typ := range map[string]reflect.Type{
		"Video":                reflect.TypeFor[videoJSON](),
		"CreateEpisodeRequest": reflect.TypeFor[createRequest](),
		"CreateMovieRequest":   reflect.TypeFor[createRequest](),
		"VideoPage":            reflect.TypeFor[listJSON](),
		"PopularVideos":        reflect.TypeFor[popularJSON](),
	} {
		if got, want := props(schema), jsonNames(typ); !slices.Equal(got, want) {
			t.Errorf("schema %s documents %v, the wire type has %v", schema, got, want)
		}
	}
	// kind is decoded only to reject it, so it is deliberately undocumented.
	patch := slices.DeleteFunc(jsonNames(reflect.TypeFor[patchRequest]()), func(s string) bool { return s == "kind" })
	if got := props("VideoPatch"); !slices.Equal(got, patch) {
		t.Errorf("schema VideoPatch documents %v, the wire type has %v", got, patch)
	}

	var refs []string
	var collect func(v any)
	collect = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if s, ok := x.(string); ok && k == "$ref" {
					refs = append(refs, s)
				}
				collect(x)
			}
		case []any:
			for _, x := range v {
				collect(x)
			}
		}
	}
	collect(doc)
	for _, ref := range refs {
		var cur any = doc
		for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
			m, ok := cur.(map[string]any)
			if !ok {
				cur = nil
				break
			}
			cur = m[part]
		}
		if cur == nil {
			t.Errorf("unresolved $ref %s", ref)
		}
	}
}

func jsonNames(t reflect.Type) []string {
	var names []string
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}
