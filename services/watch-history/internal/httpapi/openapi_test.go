package httpapi

import (
	"encoding/json"
	"testing"

	"github.com/vidstream/vidstream/services/internal/openapitest"
	"github.com/vidstream/vidstream/services/internal/service"
	"github.com/vidstream/vidstream/services/internal/telemetry"
)

// TestOpenAPIMatchesRouter keeps the published contract and the router in
// step: every route is documented and every documented operation is served.
func TestOpenAPIMatchesRouter(t *testing.T) {
	r := routes(service.NewRouter("watch-history", telemetry.Noop(), nil, OpenAPI), Deps{}, &handlers{})
	openapitest.AssertRoutesDocumented(t, r, OpenAPI)
}

// TestOpenAPIReferencesResolve catches a typo in a $ref, which the router
// comparison cannot see and which breaks every tool reading the document.
func TestOpenAPIReferencesResolve(t *testing.T) {
	var doc map[string]any
	if err := json.Unmarshal(OpenAPI, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if ref, ok := v["$ref"].(string); ok && !resolves(doc, ref) {
				t.Errorf("unresolved $ref %q", ref)
			}
			for _, child := range v {
				walk(child)
			}
		case []any:
			for _, child := range v {
				walk(child)
			}
		}
	}
	walk(doc)
}

// resolves follows a local JSON pointer such as "#/components/schemas/X".
func resolves(doc map[string]any, ref string) bool {
	const prefix = "#/"
	if len(ref) <= len(prefix) || ref[:len(prefix)] != prefix {
		return false
	}
	var node any = doc
	start := len(prefix)
	for i := start; i <= len(ref); i++ {
		if i < len(ref) && ref[i] != '/' {
			continue
		}
		m, ok := node.(map[string]any)
		if !ok {
			return false
		}
		if node, ok = m[ref[start:i]]; !ok {
			return false
		}
		start = i + 1
	}
	return true
}
