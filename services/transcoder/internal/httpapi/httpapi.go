// Package httpapi is the transcoder's REST surface: the skeleton's ops
// endpoints and nothing else, since the transcoder's work arrives on a
// queue. It holds the OpenAPI document that says so.
package httpapi

import (
	_ "embed"
	"net/http"

	"github.com/go-chi/chi/v5"
)

// OpenAPI is the transcoder's OpenAPI 3.1 document, served at /openapi.json.
//
//go:embed openapi.json
var OpenAPI []byte

// NewServer returns base, which already serves the ops routes.
func NewServer(base chi.Router) http.Handler { return base }
