-- +goose Up
-- One row per event a consumer group has applied. The consumer inserts it in
-- the same transaction as the event's effect, so "recorded here" and "effect
-- applied" are one fact: a redelivered event finds its row and is skipped.
CREATE TABLE kafkabus_processed_events (
    consumer_group TEXT      NOT NULL,
    event_id       TEXT      NOT NULL, -- the record's ce_id, canonical UUID text
    topic          TEXT      NOT NULL,
    processed_at   TIMESTAMP NOT NULL,
    PRIMARY KEY (consumer_group, event_id)
) WITHOUT ROWID; -- the primary key is the only access path

-- For the periodic purge of rows older than any redelivery can be.
CREATE INDEX kafkabus_processed_events_processed_at ON kafkabus_processed_events (processed_at);

-- +goose Down
DROP TABLE kafkabus_processed_events;
