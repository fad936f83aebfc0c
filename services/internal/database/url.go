package database

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// target is a parsed database URL. Errors built from it never echo the URL:
// it may carry a password. secrets are kept only to scrub them from messages
// produced by the drivers.
type target struct {
	dialect Dialect
	// raw is the URL as given, to hand to the driver.
	raw string
	// path is the SQLite file (or ":memory:"); empty for PostgreSQL.
	path string
	// query holds the SQLite URL's extra DSN parameters, passed through.
	query string
	// secrets are the password forms found in a PostgreSQL URL.
	secrets []string
}

// parseURL classifies a database URL by its scheme.
func parseURL(raw string) (target, error) {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return target{}, errors.New("database url: want postgres://... or sqlite://..., got no scheme")
	}
	switch strings.ToLower(scheme) {
	case "postgres", "postgresql":
		return target{dialect: Postgres, raw: raw, secrets: passwords(raw, rest)}, nil
	case "sqlite":
		// Parsed by hand rather than with net/url: "sqlite://:memory:" is not
		// a valid URL (":memory:" reads as an empty host with a bad port), and
		// "sqlite://relative/path" would put the first path segment in Host.
		path, query, _ := strings.Cut(rest, "?")
		if path == "" {
			return target{}, errors.New("database url: sqlite:// needs a path (a file, or :memory: for a throwaway database)")
		}
		return target{dialect: SQLite, raw: raw, path: path, query: query}, nil
	default:
		return target{}, fmt.Errorf("database url: unsupported scheme %q (want postgres or sqlite)", scheme)
	}
}

// passwords returns every form in which the URL's password may show up in a
// driver's message: from the userinfo and from a password= query parameter,
// both as written and percent-decoded. It copes with URLs net/url rejects,
// since those are exactly the ones whose errors might quote them.
func passwords(raw, rest string) []string {
	var found []string
	add := func(s string) {
		if s == "" {
			return
		}
		found = append(found, s)
		if dec, err := url.QueryUnescape(s); err == nil && dec != s {
			found = append(found, dec)
		}
	}
	if u, err := url.Parse(raw); err == nil {
		if pw, ok := u.User.Password(); ok {
			add(pw)
		}
		add(u.Query().Get("password"))
	}
	// Fall back to the raw text: between the first ':' and the last '@' of
	// the authority, however malformed the rest is.
	authority := rest
	if i := strings.IndexAny(authority, "/?#"); i >= 0 && strings.LastIndex(authority, "@") < i {
		authority = authority[:i]
	}
	if at := strings.LastIndex(authority, "@"); at >= 0 {
		if _, pw, ok := strings.Cut(authority[:at], ":"); ok {
			add(pw)
		}
	}
	if _, q, ok := strings.Cut(rest, "password="); ok {
		pw, _, _ := strings.Cut(q, "&")
		add(pw)
	}
	return found
}

// redact removes the URL's password from err's message while keeping err in
// the chain for errors.Is/As. Drivers are best-effort about this (pgx redacts
// what it recognizes); this makes it a guarantee for every error Open returns.
func (t target) redact(err error) error {
	if err == nil || len(t.secrets) == 0 {
		return err
	}
	msg := err.Error()
	scrubbed := msg
	for _, s := range t.secrets {
		scrubbed = strings.ReplaceAll(scrubbed, s, "xxxxx")
	}
	if scrubbed == msg {
		return err
	}
	return &redactedError{msg: scrubbed, err: err}
}

// redactedError keeps the driver's error reachable for errors.As while
// presenting a message without the password.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }
