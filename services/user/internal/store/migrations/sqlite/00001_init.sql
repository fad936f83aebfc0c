-- +goose Up
-- Times are declared TIMESTAMP so the driver hands back time.Time; they are
-- stored as UTC text that sorts chronologically, so comparisons and ORDER BY
-- behave as on PostgreSQL. UUIDs are their canonical text.
CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    -- Normalised by the service (trimmed, lower-cased) before it gets here,
    -- so a plain unique index enforces "one account per address".
    email         TEXT NOT NULL,
    display_name  TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at    TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX users_email_key ON users (email);

-- Only the SHA-256 of a token is stored: a database leak hands out no
-- working tokens.
CREATE TABLE sessions (
    token_hash BLOB PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
CREATE INDEX sessions_user_id_idx ON sessions (user_id, expires_at);

-- Failed logins per throttle key ("email:<addr>", "ip:<addr>"), kept in the
-- database so the sliding-window limit holds across replicas.
CREATE TABLE login_failures (
    id           INTEGER PRIMARY KEY,
    throttle_key TEXT NOT NULL,
    failed_at    TIMESTAMP NOT NULL
);
CREATE INDEX login_failures_key_idx ON login_failures (throttle_key, failed_at);
CREATE INDEX login_failures_failed_at_idx ON login_failures (failed_at);

-- +goose Down
DROP TABLE login_failures;
DROP TABLE sessions;
DROP TABLE users;
