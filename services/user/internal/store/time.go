package store

import (
	"fmt"
	"time"

	"github.com/vidstream/vidstream/services/internal/database"
)

// sqliteTime is fixed-width (always six fractional digits, always UTC), so
// SQLite's string comparison of two stored times orders them as instants;
// a trimmed format like RFC3339Nano would not.
const sqliteTime = "2006-01-02T15:04:05.000000Z07:00"

// timeArg turns a time into a query argument for the dialect: a
// TIMESTAMPTZ on Postgres, fixed-width text on SQLite. Times are truncated
// to microseconds, the precision Postgres keeps, so both backends round-trip
// the same value.
func (q queries) timeArg(t time.Time) any {
	t = t.UTC().Truncate(time.Microsecond)
	if q.dialect == database.SQLite {
		return t.Format(sqliteTime)
	}
	return t
}

// timeDest scans a time column from either backend: drivers hand back a
// time.Time (pgx) or the stored text (SQLite).
type timeDest struct{ t *time.Time }

func (d timeDest) Scan(src any) error {
	switch v := src.(type) {
	case time.Time:
		*d.t = v.UTC()
		return nil
	case string:
		return d.parse(v)
	case []byte:
		return d.parse(string(v))
	default:
		return fmt.Errorf("scan time: unsupported type %T", src)
	}
}

func (d timeDest) parse(s string) error {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return fmt.Errorf("scan time %q: %w", s, err)
	}
	*d.t = t.UTC()
	return nil
}
