package httpx

import (
	"net/http"
	"strconv"
	"time"
)

// Deprecation describes a REST operation on its way out (docs/versioning.md).
type Deprecation struct {
	// Since is when the operation was deprecated (the Deprecation header,
	// RFC 9745); it may be in the future, announcing the deprecation.
	Since time.Time
	// Sunset is when it stops working (the Sunset header, RFC 8594); zero
	// when no date is set yet.
	Sunset time.Time
	// Link points to what replaces it or explains the migration; sent as
	// Link: <...>; rel="deprecation". Optional.
	Link string
}

// Deprecated returns middleware that marks every response of the routes it
// wraps, errors included, so a client learns of the deprecation from any
// call, e.g.
//
//	r.With(httpx.Deprecated(httpx.Deprecation{Since: ..., Sunset: ...})).Get("/v1/old", h)
func Deprecated(d Deprecation) func(http.Handler) http.Handler {
	// RFC 9745: a Structured Field Date, "@" and Unix seconds.
	deprecation := "@" + strconv.FormatInt(d.Since.Unix(), 10)
	var sunset string
	if !d.Sunset.IsZero() {
		// RFC 8594: an HTTP-date.
		sunset = d.Sunset.UTC().Format(http.TimeFormat)
	}
	var link string
	if d.Link != "" {
		link = "<" + d.Link + `>; rel="deprecation"`
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h := w.Header()
			h.Set("Deprecation", deprecation)
			if sunset != "" {
				h.Set("Sunset", sunset)
			}
			if link != "" {
				h.Add("Link", link)
			}
			next.ServeHTTP(w, r)
		})
	}
}
