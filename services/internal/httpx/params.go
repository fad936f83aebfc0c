package httpx

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"

	"github.com/vidstream/vidstream/services/internal/apperr"
	"github.com/vidstream/vidstream/services/internal/ids"
)

// PathUUID parses the chi URL parameter name as a UUID, in its canonical
// form only (ids.Parse): one resource has one URL, or caches and logs see
// several.
func PathUUID(r *http.Request, name string) (uuid.UUID, error) {
	return ids.Parse(name, chi.URLParam(r, name))
}

// BearerToken returns the token of an "Authorization: Bearer <token>"
// header, or an Unauthenticated error when the header is missing or is not
// a well-formed bearer credential (RFC 6750 section 2.1).
func BearerToken(r *http.Request) (string, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", apperr.New(apperr.Unauthenticated, "missing Authorization header")
	}
	scheme, token, ok := strings.Cut(h, " ")
	// The scheme is case-insensitive (RFC 9110 section 11.1).
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", apperr.New(apperr.Unauthenticated, "Authorization header must use the Bearer scheme")
	}
	token = strings.TrimLeft(token, " ")
	if !isToken68(token) {
		return "", apperr.New(apperr.Unauthenticated, "malformed bearer token")
	}
	return token, nil
}

// isToken68 reports whether s matches RFC 6750's b64token:
// 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
func isToken68(s string) bool {
	body := strings.TrimRight(s, "=")
	if body == "" {
		return false
	}
	for i := 0; i < len(body); i++ {
		c := body[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '-', c == '.', c == '_', c == '~', c == '+', c == '/':
		default:
			return false
		}
	}
	return true
}

// QueryInt reads the query parameter name as an integer in [lo, hi],
// returning def when it is absent. Present but empty ("?limit=") is not an
// integer, as the OpenAPI documents say, and is rejected like any other.
func QueryInt(r *http.Request, name string, def, lo, hi int) (int, error) {
	vals, ok := r.URL.Query()[name]
	if !ok {
		return def, nil
	}
	n, err := strconv.Atoi(vals[0])
	if err != nil || n < lo || n > hi {
		e := apperr.InvalidField(name, fmt.Sprintf("must be an integer between %d and %d", lo, hi))
		e.Err = err
		return 0, e
	}
	return n, nil
}
