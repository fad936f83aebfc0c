-- +goose Up
-- STRICT so a wrong value type is an error instead of silently stored.
-- UUIDs are canonical lower-case text, whose text order equals UUID byte order
-- (as on PostgreSQL). Times are fixed-width RFC 3339 UTC text with six
-- fractional digits so text order is time order (keyset pagination compares them).
CREATE TABLE videos (
    id               TEXT PRIMARY KEY,
    owner_id         TEXT NOT NULL,
    title            TEXT NOT NULL,
    description      TEXT NOT NULL DEFAULT '',
    kind             TEXT NOT NULL CHECK (kind IN ('movie', 'episode')),
    duration_seconds INTEGER NOT NULL CHECK (duration_seconds > 0),
    series_title     TEXT,
    season           INTEGER,
    episode          INTEGER,
    release_year     INTEGER,
    status           TEXT NOT NULL,
    view_count       INTEGER NOT NULL DEFAULT 0 CHECK (view_count >= 0),
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
) STRICT;

CREATE INDEX videos_created_idx ON videos (created_at DESC, id DESC);
CREATE INDEX videos_kind_created_idx ON videos (kind, created_at DESC, id DESC);
CREATE INDEX videos_popular_idx ON videos (view_count DESC, id);
CREATE INDEX videos_owner_idx ON videos (owner_id);

-- +goose Down
DROP TABLE videos;
