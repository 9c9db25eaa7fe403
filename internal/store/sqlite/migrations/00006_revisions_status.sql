-- +goose Up
-- One revision per kind of desired state (store.Kind), bumped by triggers in
-- the same transaction as the change, so every process on the file sees a
-- new number exactly when it can see the new rows. It replaces the single
-- services_version: a domain change no longer wakes what watches only
-- services, and kinds that come later (firewall rules, SSH keys) add a row
-- and their own triggers. A domain's state and reason are observed state:
-- only its TLS mode and uploaded certificate are desired state.
CREATE TABLE revisions (
    kind     TEXT    PRIMARY KEY,
    revision INTEGER NOT NULL
) STRICT;
INSERT INTO revisions (kind, revision) SELECT 'services', version FROM services_version;
INSERT INTO revisions (kind, revision) SELECT 'domains', version FROM services_version;
DROP TRIGGER services_version_insert;
DROP TRIGGER services_version_update;
DROP TRIGGER services_version_delete;
DROP TRIGGER domains_version_insert;
DROP TRIGGER domains_version_delete;
DROP TRIGGER domains_version_tls;
DROP TABLE services_version;

-- +goose StatementBegin
CREATE TRIGGER revisions_services_insert AFTER INSERT ON services BEGIN UPDATE revisions SET revision = revision + 1 WHERE kind = 'services'; END;
CREATE TRIGGER revisions_services_update AFTER UPDATE ON services BEGIN UPDATE revisions SET revision = revision + 1 WHERE kind = 'services'; END;
CREATE TRIGGER revisions_services_delete AFTER DELETE ON services BEGIN UPDATE revisions SET revision = revision + 1 WHERE kind = 'services'; END;
CREATE TRIGGER revisions_domains_insert AFTER INSERT ON domains BEGIN UPDATE revisions SET revision = revision + 1 WHERE kind = 'domains'; END;
CREATE TRIGGER revisions_domains_delete AFTER DELETE ON domains BEGIN UPDATE revisions SET revision = revision + 1 WHERE kind = 'domains'; END;
CREATE TRIGGER revisions_domains_tls AFTER UPDATE OF tls_mode, cert_pem, key_pem ON domains BEGIN UPDATE revisions SET revision = revision + 1 WHERE kind = 'domains'; END;
-- +goose StatementEnd

-- Each reconciler's report on a service (rampart.Condition). A row of its
-- own, not columns of services: writing it must not move the services
-- revision, and each reconciler owns its row.
CREATE TABLE service_conditions (
    service_id INTEGER NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    type       TEXT    NOT NULL,
    ok         INTEGER NOT NULL,
    message    TEXT    NOT NULL DEFAULT '',
    revision   INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (service_id, type)
) STRICT;

-- +goose Down
DROP TABLE service_conditions;
CREATE TABLE services_version (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL) STRICT;
INSERT INTO services_version (id, version) SELECT 1, MAX(revision) FROM revisions;
DROP TRIGGER revisions_services_insert;
DROP TRIGGER revisions_services_update;
DROP TRIGGER revisions_services_delete;
DROP TRIGGER revisions_domains_insert;
DROP TRIGGER revisions_domains_delete;
DROP TRIGGER revisions_domains_tls;
DROP TABLE revisions;
-- +goose StatementBegin
CREATE TRIGGER services_version_insert AFTER INSERT ON services BEGIN UPDATE services_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER services_version_update AFTER UPDATE ON services BEGIN UPDATE services_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER services_version_delete AFTER DELETE ON services BEGIN UPDATE services_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER domains_version_insert AFTER INSERT ON domains BEGIN UPDATE services_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER domains_version_delete AFTER DELETE ON domains BEGIN UPDATE services_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER domains_version_tls AFTER UPDATE OF tls_mode, cert_pem, key_pem ON domains BEGIN UPDATE services_version SET version = version + 1 WHERE id = 1; END;
-- +goose StatementEnd
