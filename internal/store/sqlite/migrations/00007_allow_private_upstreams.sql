-- +goose Up
-- An admin's per-service override of the upstream policy: the service's
-- upstreams may be on loopback, link-local and other networks that
-- upstreams.allowed_networks does not allow (rampart's own admin and debug
-- listeners stay out of reach whatever it says).
ALTER TABLE services ADD COLUMN allow_private_upstreams INTEGER NOT NULL DEFAULT 0
    CHECK (allow_private_upstreams IN (0, 1));

-- Services that admins own keep working after the upgrade: an admin who
-- created one today with a loopback upstream would get the override
-- anyway. Members' services get no such pass: the policy exists because
-- of what a member's upstream could reach, and an admin can turn the
-- override on for one that needs it (rampart service update NAME
-- --allow-private-upstreams).
UPDATE services SET allow_private_upstreams = 1
    WHERE owner_id IN (SELECT id FROM users WHERE role = 'admin');

-- +goose Down
ALTER TABLE services DROP COLUMN allow_private_upstreams;
