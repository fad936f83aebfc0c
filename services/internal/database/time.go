package database

import (
	"database/sql"
	"fmt"
	"time"
)

// Timestamp normalises t to what both backends store exactly: UTC with
// microsecond precision. PostgreSQL truncates to microseconds, SQLite would
// keep nanoseconds; stamping every value written with Timestamp makes a
// round trip return an identical time.Time on both, so one repository test
// suite can compare with ==.
func Timestamp(t time.Time) time.Time {
	return t.UTC().Truncate(time.Microsecond)
}

// sqliteTimeFormats are the layouts modernc.org/sqlite writes (with
// _time_format=sqlite) and SQLite's own datetime() produces.
var sqliteTimeFormats = []string{
	"2006-01-02 15:04:05.999999999-07:00",
	"2006-01-02T15:04:05.999999999-07:00",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999",
}

// ScanTime returns a Scanner that stores a time into dst whether the driver
// delivers a time.Time or, as SQLite does for expressions such as
// MAX(created_at) that have no declared column type, text. NULL (MAX over no
// rows) stores the zero time.
//
//	var newest time.Time
//	err := db.QueryRowContext(ctx, `SELECT MAX(created_at) FROM videos`).Scan(database.ScanTime(&newest))
func ScanTime(dst *time.Time) sql.Scanner {
	return timeScanner{dst: dst}
}

type timeScanner struct{ dst *time.Time }

func (s timeScanner) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*s.dst = time.Time{}
		return nil
	case time.Time:
		*s.dst = v.UTC()
		return nil
	case string:
		return s.parse(v)
	case []byte:
		return s.parse(string(v))
	default:
		return fmt.Errorf("scan time: unsupported type %T", src)
	}
}

func (s timeScanner) parse(text string) error {
	for _, layout := range sqliteTimeFormats {
		// Layouts without an offset are UTC by our convention: we never
		// write local times.
		if t, err := time.ParseInLocation(layout, text, time.UTC); err == nil {
			*s.dst = t.UTC()
			return nil
		}
	}
	return fmt.Errorf("scan time: unrecognized format %q", text)
}
