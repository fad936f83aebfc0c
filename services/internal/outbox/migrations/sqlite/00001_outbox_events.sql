-- +goose Up
-- Events written in the same transaction as the domain change they describe,
-- waiting for the relay to publish them to Kafka. A row is deleted once the
-- broker has acknowledged it, so this table holds only the backlog.
CREATE TABLE outbox_events (
    -- AUTOINCREMENT: without it SQLite may hand out the seq of a deleted row
    -- again, and seq is what orders a key's events.
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    id         TEXT      NOT NULL UNIQUE, -- ce_id
    topic      TEXT      NOT NULL,
    event_key  TEXT      NOT NULL,
    -- Unused on SQLite (one relay, one writer); kept so both schemas match.
    lane       INTEGER   NOT NULL,
    payload    BLOB      NOT NULL,
    headers    TEXT      NOT NULL, -- JSON: CloudEvents attributes + W3C trace context
    created_at TIMESTAMP NOT NULL
);

CREATE INDEX outbox_events_lane_seq ON outbox_events (lane, seq);

-- +goose Down
DROP TABLE outbox_events;
