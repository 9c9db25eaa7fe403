-- +goose Up
-- The host firewall (issue 9). Rules are addressed by node so that a
-- fleet's agents can take them over without a schema change; today the one
-- node is 'local'. Sources are kept in canonical form (the service layer
-- normalises them through internal/firewall/rules), one per line; empty
-- means anyone.
CREATE TABLE firewall_rules (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    node       TEXT    NOT NULL,
    proto      TEXT    NOT NULL CHECK (proto IN ('tcp', 'udp')),
    port_from  INTEGER NOT NULL CHECK (port_from BETWEEN 1 AND 65535),
    port_to    INTEGER NOT NULL CHECK (port_to BETWEEN port_from AND 65535),
    sources    TEXT    NOT NULL DEFAULT '',
    comment    TEXT    NOT NULL DEFAULT '',
    created_by TEXT    NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;
CREATE INDEX firewall_rules_node ON firewall_rules (node, proto, port_from);

-- Per node: the open confirm window (the ruleset to restore, as JSON, and
-- its deadline) and whether enforcement is suspended because a first
-- enforcing apply was not confirmed. Both are desired state: writing them
-- moves the firewall revision, so the reconciler re-reads, sets its timer
-- for the deadline, or takes the table away. A row, not a file, so that a
-- pending rollback survives a restart of rampart.
CREATE TABLE firewall_nodes (
    node             TEXT    PRIMARY KEY,
    suspended        INTEGER NOT NULL DEFAULT 0,
    pending          TEXT,
    pending_deadline INTEGER,
    touched_at       INTEGER NOT NULL DEFAULT 0
) STRICT;

-- The reconciler's report (rampart.FirewallStatus): observed state, no
-- trigger.
CREATE TABLE firewall_status (
    node   TEXT PRIMARY KEY,
    status TEXT NOT NULL
) STRICT;

INSERT INTO revisions (kind, revision) VALUES ('firewall', 0);
-- +goose StatementBegin
CREATE TRIGGER revisions_firewall_rules_insert AFTER INSERT ON firewall_rules BEGIN UPDATE revisions SET revision = revision + 1 WHERE kind = 'firewall'; END;
CREATE TRIGGER revisions_firewall_rules_update AFTER UPDATE ON firewall_rules BEGIN UPDATE revisions SET revision = revision + 1 WHERE kind = 'firewall'; END;
CREATE TRIGGER revisions_firewall_rules_delete AFTER DELETE ON firewall_rules BEGIN UPDATE revisions SET revision = revision + 1 WHERE kind = 'firewall'; END;
CREATE TRIGGER revisions_firewall_nodes_insert AFTER INSERT ON firewall_nodes BEGIN UPDATE revisions SET revision = revision + 1 WHERE kind = 'firewall'; END;
CREATE TRIGGER revisions_firewall_nodes_update AFTER UPDATE ON firewall_nodes BEGIN UPDATE revisions SET revision = revision + 1 WHERE kind = 'firewall'; END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER revisions_firewall_rules_insert;
DROP TRIGGER revisions_firewall_rules_update;
DROP TRIGGER revisions_firewall_rules_delete;
DROP TRIGGER revisions_firewall_nodes_insert;
DROP TRIGGER revisions_firewall_nodes_update;
DELETE FROM revisions WHERE kind = 'firewall';
DROP TABLE firewall_status;
DROP TABLE firewall_nodes;
DROP TABLE firewall_rules;
