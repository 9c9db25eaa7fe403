-- +goose Up
-- The SMTP relay's control plane (issue 12).
--
-- mail_accounts: a service's desired mail state: its SMTP password (the
-- SHA-256 only), its quota (NULL: the default) and whether an admin or the
-- violation rule suspended it. Desired state: the 'mail' revision moves
-- with it, so the relay's reconciler wakes.
CREATE TABLE mail_accounts (
    service_id       INTEGER PRIMARY KEY REFERENCES services (id) ON DELETE CASCADE,
    password_hash    BLOB,
    password_set_at  INTEGER,
    per_hour         INTEGER,
    suspended        INTEGER NOT NULL DEFAULT 0,
    suspended_reason TEXT    NOT NULL DEFAULT '',
    suspended_at     INTEGER
) STRICT;

INSERT INTO revisions (kind, revision) VALUES ('mail', 0);
-- +goose StatementBegin
CREATE TRIGGER revisions_mail_insert AFTER INSERT ON mail_accounts BEGIN UPDATE revisions SET revision = revision + 1 WHERE kind = 'mail'; END;
CREATE TRIGGER revisions_mail_update AFTER UPDATE ON mail_accounts BEGIN UPDATE revisions SET revision = revision + 1 WHERE kind = 'mail'; END;
CREATE TRIGGER revisions_mail_delete AFTER DELETE ON mail_accounts BEGIN UPDATE revisions SET revision = revision + 1 WHERE kind = 'mail'; END;
-- +goose StatementEnd

-- Policy violations of a service (a forged sender, a quota overrun): only
-- counted over a window, so no revision.
CREATE TABLE mail_violations (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    service_id INTEGER NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    at         INTEGER NOT NULL,
    reason     TEXT    NOT NULL
) STRICT;
CREATE INDEX mail_violations_service ON mail_violations (service_id, at);

-- The mail log: one row per queued or refused message, keyed by the
-- relay's queue ID. Observed state: no revision. Recipients are JSON.
-- Bounded per service on insert (see sqlite/mail.go).
CREATE TABLE mail_messages (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    queue_id     TEXT    NOT NULL UNIQUE,
    service_id   INTEGER NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    at           INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    sender       TEXT    NOT NULL,
    recipients   TEXT    NOT NULL,
    size         INTEGER NOT NULL,
    subject_hash TEXT    NOT NULL DEFAULT '',
    status       TEXT    NOT NULL,
    reason       TEXT    NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX mail_messages_service ON mail_messages (service_id, id);

-- DKIM keys of the mail domain; the private key sealed with rampart's
-- secret key, so a copy of the database alone cannot sign mail.
CREATE TABLE dkim_keys (
    domain         TEXT    NOT NULL,
    selector       TEXT    NOT NULL,
    algorithm      TEXT    NOT NULL,
    private_sealed BLOB    NOT NULL,
    created_at     INTEGER NOT NULL,
    PRIMARY KEY (domain, selector)
) STRICT;

-- +goose Down
DROP TABLE dkim_keys;
DROP TABLE mail_messages;
DROP TABLE mail_violations;
DROP TRIGGER revisions_mail_insert;
DROP TRIGGER revisions_mail_update;
DROP TRIGGER revisions_mail_delete;
DROP TABLE mail_accounts;
DELETE FROM revisions WHERE kind = 'mail';
