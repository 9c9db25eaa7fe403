-- +goose Up
-- Per-service edge protections (issue: rate limiter and output cache). Stored
-- as JSON objects in the shape of rampart.RateLimit and rampart.Cache; rows
-- that existed before get the defaults every new service gets.
ALTER TABLE services ADD COLUMN rate_limit TEXT NOT NULL
    DEFAULT '{"enabled":true,"requests":150,"per":"minute","allow":[]}' CHECK (json_valid(rate_limit));
ALTER TABLE services ADD COLUMN cache TEXT NOT NULL
    DEFAULT '{"enabled":true,"ttl":"3s","stale_if_error":"1m0s"}' CHECK (json_valid(cache));

-- +goose Down
ALTER TABLE services DROP COLUMN cache;
ALTER TABLE services DROP COLUMN rate_limit;
