-- +goose Up
CREATE TABLE videos (
    id               UUID PRIMARY KEY,
    owner_id         UUID NOT NULL,
    title            TEXT NOT NULL,
    description      TEXT NOT NULL DEFAULT '',
    kind             TEXT NOT NULL CHECK (kind IN ('movie', 'episode')),
    duration_seconds INTEGER NOT NULL CHECK (duration_seconds > 0),
    series_title     TEXT,
    season           INTEGER,
    episode          INTEGER,
    release_year     INTEGER,
    status           TEXT NOT NULL,
    view_count       BIGINT NOT NULL DEFAULT 0 CHECK (view_count >= 0),
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL
);

-- Keyset pagination walks these indexes in order: newest first, optionally
-- within one kind.
CREATE INDEX videos_created_idx ON videos (created_at DESC, id DESC);
CREATE INDEX videos_kind_created_idx ON videos (kind, created_at DESC, id DESC);
-- GET /v1/videos/popular reads the top of this index.
CREATE INDEX videos_popular_idx ON videos (view_count DESC, id);
CREATE INDEX videos_owner_idx ON videos (owner_id);

-- +goose Down
DROP TABLE videos;
