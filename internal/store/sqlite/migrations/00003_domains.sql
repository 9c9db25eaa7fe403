-- +goose Up
-- Custom domains (issue 3): the allow list of names per service. name is
-- UNIQUE across all services, so one name is never routed (or certified) for
-- two services. cert_pem/key_pem hold the uploaded certificate and key of
-- TLS mode "custom" (empty otherwise); the key is stored at rest in this
-- database file, which rampart creates with mode 0600 and keeps in the data
-- directory (0700), like the certificate storage of managed names.
CREATE TABLE domains (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    service_id INTEGER NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    name       TEXT    NOT NULL UNIQUE, -- normalized (ASCII, lower case) by the caller
    tls_mode   TEXT    NOT NULL,
    state      TEXT    NOT NULL,
    reason     TEXT    NOT NULL DEFAULT '',
    cert_pem   BLOB    NOT NULL DEFAULT x'',
    key_pem    BLOB    NOT NULL DEFAULT x'',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;
CREATE INDEX domains_service_id ON domains (service_id);

-- Adding or removing a domain changes the hosts of a service's route, so it
-- bumps services_version like a change to services does (the routes and
-- domains reconcilers poll that one number). State updates written by the
-- reconcilers do not: they change no route, and bumping on them would make
-- every reconciler pass wake the others.
-- +goose StatementBegin
CREATE TRIGGER domains_version_insert AFTER INSERT ON domains
BEGIN
    UPDATE services_version SET version = version + 1 WHERE id = 1;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER domains_version_delete AFTER DELETE ON domains
BEGIN
    UPDATE services_version SET version = version + 1 WHERE id = 1;
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER domains_version_delete;
DROP TRIGGER domains_version_insert;
DROP TABLE domains;
