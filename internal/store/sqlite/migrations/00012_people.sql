-- +goose Up
-- People management (issue 10). An admin can disable an account without
-- deleting it (its services and history stay), and invite people or reset
-- a password with a one-time link sent by email. Like every other secret
-- here, a link is stored only as the SHA-256 of its 256 random bits.
ALTER TABLE users ADD COLUMN disabled_at INTEGER; -- NULL: the account works

CREATE TABLE account_links (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    kind       TEXT    NOT NULL, -- 'invite' or 'reset'
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    hash       BLOB    NOT NULL UNIQUE, -- SHA-256 of the link's secret
    created_by TEXT    NOT NULL,        -- who sent it, as the audit log names them
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT;
CREATE INDEX account_links_user_id ON account_links (user_id);
CREATE INDEX account_links_expires_at ON account_links (expires_at);

-- +goose Down
DROP TABLE account_links;
ALTER TABLE users DROP COLUMN disabled_at;
