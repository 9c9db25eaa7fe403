-- The first schema of rampart. Conventions, so later migrations stay alike:
--
--   * Times are INTEGER unix nanoseconds in UTC: exact round trips, and
--     comparisons (session expiry) are plain integer comparisons.
--   * Tables are STRICT, so a value of the wrong type is an error instead of
--     being stored as whatever it happens to be.
--   * IDs are AUTOINCREMENT so an ID is never reused after a delete: audit
--     events keep pointing at the service (or user) they were about, and a
--     new service can never inherit the audit history of a deleted one.
--   * Allowed values of roles and states are checked by the domain types,
--     not here, so adding one does not need a table rebuild.

-- +goose Up
CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    email         TEXT    NOT NULL UNIQUE, -- normalized (lower-case) by the caller
    role          TEXT    NOT NULL,
    password_hash TEXT    NOT NULL DEFAULT '',
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
) STRICT;

CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT    NOT NULL DEFAULT '',
    hash         BLOB    NOT NULL UNIQUE, -- SHA-256 of the secret
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER,                 -- NULL: never expires
    last_used_at INTEGER                  -- NULL: never used
) STRICT;
CREATE INDEX api_tokens_user_id ON api_tokens (user_id);

CREATE TABLE sessions (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    hash       BLOB    NOT NULL UNIQUE, -- SHA-256 of the cookie value
    csrf_token TEXT    NOT NULL,
    ip         TEXT    NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    seen_at    INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT;
CREATE INDEX sessions_user_id ON sessions (user_id);
CREATE INDEX sessions_expires_at ON sessions (expires_at);
CREATE INDEX sessions_seen_at ON sessions (seen_at);

-- A user who still owns services cannot be deleted (no ON DELETE action):
-- their services must be handed to someone else first, never orphaned.
CREATE TABLE services (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT    NOT NULL UNIQUE,
    owner_id   INTEGER NOT NULL REFERENCES users (id),
    upstreams  TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(upstreams)), -- JSON array of URLs
    state      TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;
CREATE INDEX services_owner_id ON services (owner_id);

-- services_version is bumped by triggers on every change to services, in the
-- same transaction as the change, so every connection and every process on
-- this file sees a new number exactly when it can see the new rows.
-- PRAGMA data_version is not enough: it is per connection (a pool hands out
-- different ones), ignores the connection's own writes, and changes on a
-- write to any table, not just services.
CREATE TABLE services_version (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
) STRICT;
INSERT INTO services_version (id, version) VALUES (1, 0);

-- +goose StatementBegin
CREATE TRIGGER services_version_insert AFTER INSERT ON services
BEGIN
    UPDATE services_version SET version = version + 1 WHERE id = 1;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER services_version_update AFTER UPDATE ON services
BEGIN
    UPDATE services_version SET version = version + 1 WHERE id = 1;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER services_version_delete AFTER DELETE ON services
BEGIN
    UPDATE services_version SET version = version + 1 WHERE id = 1;
END;
-- +goose StatementEnd

-- Audit events keep names and IDs as they were at the time and have no
-- foreign keys: the history must outlive the users and services it names.
CREATE TABLE audit_events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    at         INTEGER NOT NULL,
    actor_id   INTEGER NOT NULL DEFAULT 0, -- 0: the system or an operator command
    actor      TEXT    NOT NULL,
    ip         TEXT    NOT NULL DEFAULT '',
    action     TEXT    NOT NULL,
    service    TEXT    NOT NULL DEFAULT '',
    service_id INTEGER NOT NULL DEFAULT 0,
    owner_id   INTEGER NOT NULL DEFAULT 0,
    detail     TEXT    NOT NULL DEFAULT ''
) STRICT;
-- One index per ListAudit filter, each ending in id for newest-first paging.
CREATE INDEX audit_events_actor_id ON audit_events (actor_id, id);
CREATE INDEX audit_events_owner_id ON audit_events (owner_id, id);
CREATE INDEX audit_events_service ON audit_events (service, id);

-- Events are never edited. Deleting stays possible so that a retention
-- policy can prune the oldest ones later.
-- +goose StatementBegin
CREATE TRIGGER audit_events_append_only BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit events are append-only');
END;
-- +goose StatementEnd

-- +goose Down
DROP TABLE audit_events;
DROP TABLE services_version;
DROP TABLE services;
DROP TABLE sessions;
DROP TABLE api_tokens;
DROP TABLE users;
