-- +goose Up
-- Multi-factor login (issue 10). Every account gets a second factor, the
-- emailed code by default. Secrets here are never plaintext: the TOTP
-- seeds are sealed with a key kept outside this file, challenges and
-- recovery codes are SHA-256 hashes of 256- and 80-bit secrets, and an
-- emailed code is stored only as a MAC keyed by its challenge's secret,
-- which this file does not hold either.
ALTER TABLE users ADD COLUMN mfa TEXT NOT NULL DEFAULT 'email';
ALTER TABLE users ADD COLUMN totp_secret BLOB;  -- sealed; NULL without an app
ALTER TABLE users ADD COLUMN totp_pending BLOB; -- sealed; enrolment not yet validated
ALTER TABLE users ADD COLUMN totp_last_step INTEGER NOT NULL DEFAULT 0;

-- A login that passed the password and waits for its second factor.
CREATE TABLE login_challenges (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    hash       BLOB    NOT NULL UNIQUE, -- SHA-256 of the challenge secret
    method     TEXT    NOT NULL,
    code_mac   BLOB,                    -- HMAC-SHA256(secret, code); NULL for TOTP
    attempts   INTEGER NOT NULL DEFAULT 0,
    sends      INTEGER NOT NULL DEFAULT 0,
    sent_at    INTEGER,
    ip         TEXT    NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT;
CREATE INDEX login_challenges_user_id ON login_challenges (user_id);
CREATE INDEX login_challenges_expires_at ON login_challenges (expires_at);

CREATE TABLE recovery_codes (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    hash    BLOB    NOT NULL UNIQUE, -- SHA-256 of the code (80 random bits)
    used_at INTEGER
) STRICT;
CREATE INDEX recovery_codes_user_id ON recovery_codes (user_id);

-- +goose Down
DROP TABLE recovery_codes;
DROP TABLE login_challenges;
ALTER TABLE users DROP COLUMN totp_last_step;
ALTER TABLE users DROP COLUMN totp_pending;
ALTER TABLE users DROP COLUMN totp_secret;
ALTER TABLE users DROP COLUMN mfa;
