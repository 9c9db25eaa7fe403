-- +goose Up
-- Custom-domain ownership (issue 8): a domain is routed and certified only
-- once DNS has proven that it belongs to its service.
--
-- domain_challenges holds each service's token, the value of the TXT record
-- _rampart-challenge.<domain> that proves a name pointed at the node by
-- A/AAAA records. It is random (128 bits), made when the service's first
-- domain is added and kept for the service's life; a service deleted and
-- created again under the same name gets a new one (ON DELETE CASCADE), so
-- a TXT record left behind by the first owner proves nothing for the next.
-- A table of its own rather than a column of services: the token is not
-- the service's desired state, and writing it must not move the services
-- revision.
CREATE TABLE domain_challenges (
    service_id INTEGER PRIMARY KEY REFERENCES services (id) ON DELETE CASCADE,
    token      TEXT    NOT NULL
) STRICT;
-- Services that already have domains get their token now, from SQLite's
-- randomness (a ChaCha20 generator seeded by the operating system).
INSERT INTO domain_challenges (service_id, token)
SELECT service_id, lower(hex(randomblob(16))) FROM (SELECT DISTINCT service_id FROM domains);

-- verified_at (Unix nanoseconds) is when the domains reconciler saw DNS
-- prove the name, NULL until then. It is observed state, but it decides
-- whether the name is routed, so setting it moves the domains revision like
-- a change of the name's TLS mode does.
ALTER TABLE domains ADD COLUMN verified_at INTEGER;
-- Managed names the reconciler had already let past waiting_for_dns passed
-- the DNS check of their time: they stay routed. Names in TLS mode custom
-- or off were never checked, and prove themselves on the next pass.
UPDATE domains SET verified_at = updated_at WHERE tls_mode = 'managed' AND state <> 'waiting_for_dns';
-- +goose StatementBegin
CREATE TRIGGER revisions_domains_verified AFTER UPDATE OF verified_at ON domains
WHEN old.verified_at IS NOT new.verified_at
BEGIN UPDATE revisions SET revision = revision + 1 WHERE kind = 'domains'; END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER revisions_domains_verified;
ALTER TABLE domains DROP COLUMN verified_at;
DROP TABLE domain_challenges;
