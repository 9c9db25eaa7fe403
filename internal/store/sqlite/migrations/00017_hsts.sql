-- +goose Up
-- Per-service HSTS (the Strict-Transport-Security header the edge sends on
-- HTTPS responses), stored as a JSON object in the shape of rampart.HSTS.
-- Off for every service, new or existing, until its owner turns it on.
ALTER TABLE services ADD COLUMN hsts TEXT NOT NULL
    DEFAULT '{"enabled":false,"max_age":31536000,"include_subdomains":false,"preload":false}' CHECK (json_valid(hsts));

-- +goose Down
ALTER TABLE services DROP COLUMN hsts;
