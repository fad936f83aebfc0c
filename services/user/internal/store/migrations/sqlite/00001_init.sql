-- +goose Up
-- STRICT tables so a wrongly typed value fails loudly instead of being
-- stored as whatever SQLite's type affinity makes of it. Times are TEXT in a
-- fixed-width UTC format (YYYY-MM-DDTHH:MM:SS.ffffffZ), so comparing them as
-- strings compares them as instants. UUIDs are their canonical text.
CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    -- Normalised by the service (trimmed, lower-cased) before it gets here,
    -- so a plain unique index enforces "one account per address".
    email         TEXT NOT NULL,
    display_name  TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at    TEXT NOT NULL
) STRICT;
CREATE UNIQUE INDEX users_email_key ON users (email);

-- Only the SHA-256 of a token is stored: a database leak hands out no
-- working tokens.
CREATE TABLE sessions (
    token_hash BLOB PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
) STRICT;
CREATE INDEX sessions_user_id_idx ON sessions (user_id, expires_at);

-- Failed logins per throttle key ("email:<addr>", "ip:<addr>"), kept in the
-- database so the sliding-window limit holds across replicas.
CREATE TABLE login_failures (
    id           INTEGER PRIMARY KEY,
    throttle_key TEXT NOT NULL,
    failed_at    TEXT NOT NULL
) STRICT;
CREATE INDEX login_failures_key_idx ON login_failures (throttle_key, failed_at);
CREATE INDEX login_failures_failed_at_idx ON login_failures (failed_at);

-- +goose Down
DROP TABLE login_failures;
DROP TABLE sessions;
DROP TABLE users;
