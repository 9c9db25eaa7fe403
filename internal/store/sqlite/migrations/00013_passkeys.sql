-- +goose Up
-- Passkeys (WebAuthn) as a second factor (issue 10). Only public keys and
-- counters: a copy of this file cannot sign a login.
CREATE TABLE passkeys (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id       INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    credential_id BLOB    NOT NULL UNIQUE,
    public_key    BLOB    NOT NULL,      -- COSE
    sign_count    INTEGER NOT NULL DEFAULT 0,
    transports    TEXT    NOT NULL DEFAULT '', -- comma-separated
    aaguid        BLOB,
    flags         INTEGER NOT NULL DEFAULT 0,
    rp_id         TEXT    NOT NULL,      -- the host name it was made for
    name          TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER,
    UNIQUE (user_id, name)
) STRICT;

-- The WebAuthn user handle of each user with passkeys: random, so that an
-- authenticator does not learn the account's row number.
CREATE TABLE passkey_users (
    user_id INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    handle  BLOB    NOT NULL UNIQUE
) STRICT;

-- +goose Down
DROP TABLE passkey_users;
DROP TABLE passkeys;
