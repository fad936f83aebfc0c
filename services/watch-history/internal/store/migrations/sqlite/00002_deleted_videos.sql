-- +goose Up
-- The videos whose VideoDeleted this service has applied. A progress report
-- that looked the video up just before its deletion and writes just after
-- finds it here and is refused, instead of leaving an entry for a video
-- that no longer exists. Rows are pruned after a day, far longer than any
-- report takes between its lookup and its write.
CREATE TABLE deleted_videos (
    video_id   TEXT      PRIMARY KEY,
    deleted_at TIMESTAMP NOT NULL
) WITHOUT ROWID;

CREATE INDEX deleted_videos_deleted_at ON deleted_videos (deleted_at);

-- +goose Down
DROP TABLE deleted_videos;
