package httpx

import (
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"strings"

	"github.com/vidstream/vidstream/services/internal/apperr"
)

// unavailableRetryAfter is the Retry-After of a 503 for a dependency that
// could not be reached: a restart or failover takes seconds.
const unavailableRetryAfter = 1

// asUnavailable turns an error of no kind that says a dependency could not
// be reached (its database restarting, a connection refused or cut) into
// apperr.Unavailable, so the client gets 503 with Retry-After rather than
// 500: nothing is wrong with the request or this service's code, and the
// same request will succeed once the dependency is back. Errors with a kind
// are the domain's classification and are left alone.
func asUnavailable(err error) error {
	if _, ok := apperr.As(err); ok || !dependencyDown(err) {
		return err
	}
	return &apperr.Error{Kind: apperr.Unavailable, Message: "a dependency of this service is temporarily unavailable",
		Err: err, RetryAfterSeconds: unavailableRetryAfter}
}

// sqlStater is implemented by PostgreSQL errors (pgconn.PgError), without
// tying this package to a driver.
type sqlStater interface{ SQLState() string }

func dependencyDown(err error) bool {
	var netErr net.Error
	var st sqlStater
	switch {
	case errors.As(err, &netErr), errors.Is(err, driver.ErrBadConn), errors.Is(err, io.ErrUnexpectedEOF):
		return true
	case errors.As(err, &st):
		// Class 08: connection exception; class 57: operator intervention
		// (the server shutting down, "terminating connection due to
		// administrator command").
		code := st.SQLState()
		return strings.HasPrefix(code, "08") || strings.HasPrefix(code, "57")
	default:
		return false
	}
}
