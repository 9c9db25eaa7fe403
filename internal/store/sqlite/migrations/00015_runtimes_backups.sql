-- +goose Up
-- Services that rampart runs (issue 11): the runtime (proxy, exec or
-- compose, as JSON), the restart generation, the deletion grace period
-- and what the runtime last observed (service_run_states: observed state,
-- written by the runtimes reconciler, in a table of its own so that writing
-- it does not move the services revision).
ALTER TABLE services ADD COLUMN runtime TEXT NOT NULL DEFAULT '{"kind":"proxy"}';
ALTER TABLE services ADD COLUMN generation INTEGER NOT NULL DEFAULT 0;
ALTER TABLE services ADD COLUMN deleted_at INTEGER;
ALTER TABLE services ADD COLUMN purge_after INTEGER;
CREATE TABLE service_run_states (
    service_id INTEGER PRIMARY KEY REFERENCES services (id) ON DELETE CASCADE,
    run_state  TEXT    NOT NULL
);

-- Backups: one row per archive in the backup store. The archive is written
-- (atomically) before its row, so a row always names a whole archive; an
-- archive without a row (a crash in between) is swept. Rows go with their
-- service when the purge deletes it.
CREATE TABLE backups (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    service_id   INTEGER NOT NULL REFERENCES services(id) ON DELETE CASCADE,
    service_name TEXT    NOT NULL,
    kind         TEXT    NOT NULL,
    key          TEXT    NOT NULL UNIQUE,
    size         INTEGER NOT NULL,
    data_bytes   INTEGER NOT NULL,
    files        INTEGER NOT NULL,
    sha256       TEXT    NOT NULL,
    created_at   INTEGER NOT NULL
);
CREATE INDEX backups_service ON backups (service_id, created_at);

-- +goose Down
DROP TABLE backups;
DROP TABLE service_run_states;
ALTER TABLE services DROP COLUMN purge_after;
ALTER TABLE services DROP COLUMN deleted_at;
ALTER TABLE services DROP COLUMN generation;
ALTER TABLE services DROP COLUMN runtime;
