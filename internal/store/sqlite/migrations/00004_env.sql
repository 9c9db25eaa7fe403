-- +goose Up
-- A service's environment variables (the Env tab of Update config), as a
-- JSON object of name → value in the shape of rampart.Env.
ALTER TABLE services ADD COLUMN env TEXT NOT NULL DEFAULT '{}'
    CHECK (json_valid(env) AND json_type(env) = 'object');

-- +goose Down
ALTER TABLE services DROP COLUMN env;
