-- +goose Up
-- Events written in the same transaction as the domain change they describe,
-- waiting for the relay to publish them to Kafka. A row is deleted once the
-- broker has acknowledged it, so this table holds only the backlog.
CREATE TABLE outbox_events (
    -- Commit-order proxy: the relay publishes each key's rows by ascending seq.
    seq        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id         UUID        NOT NULL UNIQUE, -- ce_id
    topic      TEXT        NOT NULL,
    event_key  TEXT        NOT NULL,
    -- hash(event_key) mod 64: the unit of work a relay replica claims (with an
    -- advisory lock), so one key is only ever published by one replica at a time.
    lane       SMALLINT    NOT NULL,
    payload    BYTEA       NOT NULL,
    headers    JSONB       NOT NULL, -- CloudEvents attributes + W3C trace context of the producing request
    created_at TIMESTAMPTZ NOT NULL
);

-- The relay's access path: the oldest rows of the lanes it holds.
CREATE INDEX outbox_events_lane_seq ON outbox_events (lane, seq);

-- +goose Down
DROP TABLE outbox_events;
