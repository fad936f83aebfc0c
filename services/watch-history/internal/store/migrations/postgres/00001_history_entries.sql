-- +goose Up
CREATE TABLE history_entries (
    user_id          UUID        NOT NULL,
    video_id         UUID        NOT NULL,
    -- title and duration_seconds are a copy of the catalog's, kept fresh by
    -- VideoUpdated; video_updated_at is the catalog version they came from.
    title            TEXT        NOT NULL,
    duration_seconds INTEGER     NOT NULL CHECK (duration_seconds > 0),
    position_seconds INTEGER     NOT NULL CHECK (position_seconds >= 0 AND position_seconds <= duration_seconds),
    -- NULL until the position first reaches 90% of the duration.
    watched_at       TIMESTAMPTZ,
    video_updated_at TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL,
    -- Compare-and-set token for concurrent progress reports.
    version          BIGINT      NOT NULL CHECK (version > 0),
    PRIMARY KEY (user_id, video_id)
);

-- A user's history newest first, and keyset pages of it.
CREATE INDEX history_entries_user_recent ON history_entries (user_id, updated_at DESC, video_id DESC);

-- VideoUpdated and VideoDeleted touch every entry of one video.
CREATE INDEX history_entries_video ON history_entries (video_id);

-- +goose Down
DROP TABLE history_entries;
