-- +goose Up
-- An admin's per-service override of the upstream policy: the service's
-- upstreams may be on loopback, link-local and other networks that
-- upstreams.allowed_networks does not allow (rampart's own listeners stay
-- out of reach). Existing services keep what they had before the policy
-- existed only if an admin turns it on: off is the safe reading of a row
-- nobody decided about.
ALTER TABLE services ADD COLUMN allow_private_upstreams INTEGER NOT NULL DEFAULT 0
    CHECK (allow_private_upstreams IN (0, 1));

-- +goose Down
ALTER TABLE services DROP COLUMN allow_private_upstreams;
