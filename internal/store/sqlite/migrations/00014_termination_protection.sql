-- +goose Up
-- Termination protection (issue 11): while on, the service layer refuses
-- the actions that can lose a service or its data (delete today; stop,
-- kill, restart, reset and set-version once services run). Off by default,
-- as it is for every service that exists before this migration.
ALTER TABLE services ADD COLUMN termination_protection INTEGER NOT NULL DEFAULT 0
    CHECK (termination_protection IN (0, 1));

-- +goose Down
ALTER TABLE services DROP COLUMN termination_protection;
