-- +goose Up
-- Where a row goes: 'kafka' (a domain event, topic = the Kafka topic) or
-- 'amqp' (a job, topic = the RabbitMQ work queue). Each destination has a
-- relay of its own, so a broker outage on one side never delays the other.
ALTER TABLE outbox_events ADD COLUMN destination TEXT NOT NULL DEFAULT 'kafka';

-- The relays' access path: the oldest rows of their destination's lanes.
CREATE INDEX outbox_events_destination_lane_seq ON outbox_events (destination, lane, seq);
DROP INDEX outbox_events_lane_seq;

-- +goose Down
CREATE INDEX outbox_events_lane_seq ON outbox_events (lane, seq);
DROP INDEX outbox_events_destination_lane_seq;
ALTER TABLE outbox_events DROP COLUMN destination;
