package database

import (
	"errors"
	"strings"
	"testing"
)

func TestParseURL(t *testing.T) {
	tests := []struct {
		url     string
		dialect Dialect
		path    string
	}{
		{"postgres://u:p@localhost:5432/db?sslmode=disable", Postgres, ""},
		{"postgresql://localhost/db", Postgres, ""},
		{"sqlite://.data/user.db", SQLite, ".data/user.db"},
		{"sqlite:///var/lib/user.db", SQLite, "/var/lib/user.db"},
		{"sqlite://:memory:", SQLite, ":memory:"},
		{"sqlite://x.db?_pragma=cache_size(2000)", SQLite, "x.db"},
	}
	for _, tt := range tests {
		got, err := parseURL(tt.url)
		if err != nil {
			t.Errorf("parseURL(%q): %v", tt.url, err)
			continue
		}
		if got.dialect != tt.dialect || got.path != tt.path {
			t.Errorf("parseURL(%q) = %s %q, want %s %q", tt.url, got.dialect, got.path, tt.dialect, tt.path)
		}
	}

	for _, bad := range []string{"", "localhost:5432", "mysql://u:hunter2@h/db", "sqlite://"} {
		_, err := parseURL(bad)
		if err == nil {
			t.Errorf("parseURL(%q) succeeded, want error", bad)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("parseURL(%q) error leaks the password: %v", bad, err)
		}
	}
}

func TestRedactScrubsEveryPasswordForm(t *testing.T) {
	tests := []struct {
		url    string
		secret string
	}{
		{"postgres://u:hunter2@h:5432/db", "hunter2"},
		{"postgres://u:hun%40ter2@h/db", "hun@ter2"},
		{"postgres://h/db?user=u&password=hunter2", "hunter2"},
		// Not a valid URL (bad port), so only the raw-text fallback sees it.
		{"postgres://u:hunter2@h:port/db", "hunter2"},
	}
	for _, tt := range tests {
		target, err := parseURL(tt.url)
		if err != nil {
			t.Fatalf("parseURL(%q): %v", tt.url, err)
		}
		cause := errors.New("driver says: cannot use " + tt.secret + " for " + tt.url)
		got := target.redact(cause)
		if strings.Contains(got.Error(), tt.secret) {
			t.Errorf("redact(%q) = %q, still contains the password", tt.url, got)
		}
		if !errors.Is(got, cause) {
			t.Errorf("redact(%q) dropped the cause from the chain", tt.url)
		}
	}
}

func TestOperation(t *testing.T) {
	tests := map[string]string{
		"SELECT 1":                             "SELECT",
		"  insert into t values ($1)":          "INSERT",
		"-- why\nUPDATE t SET x = 1":           "UPDATE",
		"/* c */ DELETE FROM t":                "DELETE",
		"WITH x AS (SELECT 1) SELECT * FROM x": "WITH",
		"(SELECT 1) UNION (SELECT 2)":          "SELECT",
		"":                                     "",
		"-- only a comment":                    "",
	}
	for query, want := range tests {
		if got := operation(query); got != want {
			t.Errorf("operation(%q) = %q, want %q", query, got, want)
		}
	}
}
