-- +goose Up
-- Names of services purged while they had custom domains. The owners of
-- those domains may leave their DNS pointing at <name>.<platform domain>,
-- and a CNAME to a service's platform hostname proves a domain for that
-- service: whoever got the name next could claim the domains. So such a
-- name goes back only to the account that last owned it (or to a service
-- an admin creates). owner_id is not a foreign key: the name stays retired
-- when that account is deleted. domains is a JSON array of the names the
-- service had, for the error message and the audit log.
CREATE TABLE retired_names (
    name       TEXT    PRIMARY KEY,
    owner_id   INTEGER NOT NULL,
    domains    TEXT    NOT NULL CHECK (json_valid(domains)),
    retired_at INTEGER NOT NULL
) STRICT;

-- +goose Down
DROP TABLE retired_names;
