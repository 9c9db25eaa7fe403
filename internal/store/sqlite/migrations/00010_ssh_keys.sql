-- +goose Up
-- SSH keys (issue 9): the public keys rampart writes into the managed block
-- of a node's authorized_keys. Keyed by node so that a fleet's agents can
-- take their node's keys over without a schema change. The fingerprint is
-- unique per node: one key under two titles would make removing "the" key
-- leave access in place. Only public material is stored; a refused paste
-- (a private key by mistake) never reaches this table. No foreign key to
-- users: the audit-like "added by" stays when an account goes.
CREATE TABLE ssh_keys (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    node        TEXT    NOT NULL,
    title       TEXT    NOT NULL,
    type        TEXT    NOT NULL,
    bits        INTEGER NOT NULL,
    fingerprint TEXT    NOT NULL,
    public_key  TEXT    NOT NULL,
    comment     TEXT    NOT NULL DEFAULT '',
    added_by    TEXT    NOT NULL,
    added_by_id INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL,
    UNIQUE (node, fingerprint)
) STRICT;

INSERT INTO revisions (kind, revision) VALUES ('ssh_keys', 0);
-- +goose StatementBegin
CREATE TRIGGER revisions_ssh_keys_insert AFTER INSERT ON ssh_keys BEGIN UPDATE revisions SET revision = revision + 1 WHERE kind = 'ssh_keys'; END;
CREATE TRIGGER revisions_ssh_keys_update AFTER UPDATE ON ssh_keys BEGIN UPDATE revisions SET revision = revision + 1 WHERE kind = 'ssh_keys'; END;
CREATE TRIGGER revisions_ssh_keys_delete AFTER DELETE ON ssh_keys BEGIN UPDATE revisions SET revision = revision + 1 WHERE kind = 'ssh_keys'; END;
-- +goose StatementEnd

-- The authorized_keys reconciler's report per node: observed state, in a
-- table of its own with no trigger, so writing it never wakes a reconciler.
CREATE TABLE ssh_keys_status (
    node             TEXT    PRIMARY KEY,
    applied_revision INTEGER NOT NULL DEFAULT 0,
    path             TEXT    NOT NULL DEFAULT '',
    error            TEXT    NOT NULL DEFAULT '',
    written_at       INTEGER,
    checked_at       INTEGER,
    drift            TEXT    NOT NULL DEFAULT '',
    drift_at         INTEGER
) STRICT;

-- +goose Down
DROP TABLE ssh_keys_status;
DROP TRIGGER revisions_ssh_keys_insert;
DROP TRIGGER revisions_ssh_keys_update;
DROP TRIGGER revisions_ssh_keys_delete;
DROP TABLE ssh_keys;
DELETE FROM revisions WHERE kind = 'ssh_keys';
