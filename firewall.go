package rampart

import (
	"strconv"
	"time"
)

// LocalNode names the machine `rampart serve` runs on. Firewall rules (and
// SSH keys) are addressed by node so that a fleet's agents can take them
// over without a schema change; today there is this one.
const LocalNode = "local"

// DefaultConfirmWithin is how long a firewall change that touches SSH
// (22/tcp) or the admin listener's port waits for a confirmation before
// the previous ruleset comes back by itself.
const DefaultConfirmWithin = 60 * time.Second

// MaxConfirmWithin bounds a confirm window: long enough to reconnect and
// check, short enough that a locked-out owner gets back in the same hour.
const MaxConfirmWithin = time.Hour

// FirewallRule opens a port or a range of ports of one protocol to some
// sources, on one node. The rule model and its parser live in
// internal/firewall/rules; this is the stored and wire form, already
// normalised by the service layer.
type FirewallRule struct {
	ID       int64  `json:"id"`
	Node     string `json:"node"`
	Proto    string `json:"proto"`     // "tcp" or "udp"
	PortFrom int    `json:"port_from"` // first port
	PortTo   int    `json:"port_to"`   // last port, inclusive
	// Sources are the addresses and networks that may connect, in
	// canonical form; empty means anyone (IPv4 and IPv6), "0.0.0.0/0"
	// alone any IPv4 address, "::/0" alone any IPv6 address.
	Sources   []string  `json:"sources"`
	Comment   string    `json:"comment,omitempty"`
	CreatedBy string    `json:"created_by,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Ports is "80" or "8000-8100".
func (r *FirewallRule) Ports() string {
	if r.PortFrom == r.PortTo {
		return strconv.Itoa(r.PortFrom)
	}
	return strconv.Itoa(r.PortFrom) + "-" + strconv.Itoa(r.PortTo)
}

// FirewallChange is what every change of the firewall may carry besides
// the rule itself.
type FirewallChange struct {
	// Force allows restricting SSH (22/tcp) or the admin listener's port
	// to sources that do not include the requesting client's address.
	Force bool `json:"force,omitempty"`
	// ConfirmWithin, when set, opens a confirm window: unless
	// POST /firewall/confirm comes within it, the ruleset as it was before
	// this change comes back by itself. Changes that touch SSH or the
	// admin port open one of DefaultConfirmWithin anyway when the
	// firewall is enforced.
	ConfirmWithin Duration `json:"confirm_within,omitempty"`
}

// FirewallRuleInput creates a rule (POST /firewall/rules). Ports is "80"
// or "8000-8100"; Sources are IPs, CIDRs or the words any, any4, any6;
// empty means anyone.
type FirewallRuleInput struct {
	Proto   string   `json:"proto"`
	Ports   string   `json:"ports"`
	Sources []string `json:"sources,omitempty"`
	Comment string   `json:"comment,omitempty"`
	FirewallChange
}

// FirewallRulePatch changes a rule (PATCH /firewall/rules/{id}); a nil
// field is left as it is.
type FirewallRulePatch struct {
	Proto   *string   `json:"proto,omitempty"`
	Ports   *string   `json:"ports,omitempty"`
	Sources *[]string `json:"sources,omitempty"`
	Comment *string   `json:"comment,omitempty"`
	FirewallChange
}

// FirewallToolPortInput opens or closes a known tool port by number
// (PUT /firewall/tool-ports/{port}).
type FirewallToolPortInput struct {
	Open bool `json:"open"`
	FirewallChange
}

// FirewallApplyInput re-applies the stored ruleset now
// (POST /firewall/apply), optionally opening a confirm window first.
type FirewallApplyInput struct {
	FirewallChange
}

// FirewallPending is an open confirm window: unless confirmed by Deadline,
// the node's rules go back to Previous.
type FirewallPending struct {
	Since    time.Time `json:"since"`
	Deadline time.Time `json:"deadline"`
	By       string    `json:"by"`
	Reason   string    `json:"reason"`
	// Previous is the ruleset to restore. Unenforced means that before
	// the window the firewall was not enforced at all (the first
	// enforcing apply): rolling back then takes rampart's table away.
	Previous   []*FirewallRule `json:"previous,omitempty"`
	Unenforced bool            `json:"unenforced,omitempty"`
}

// FirewallStatus is the observed state of a node's firewall, written by
// its reconciler only.
type FirewallStatus struct {
	// Enforced: the last pass applied the ruleset to the host's nftables.
	Enforced bool `json:"enforced"`
	// EverEnforced: a ruleset was applied on this node once; until then the
	// first enforcing apply goes through a confirm window.
	EverEnforced    bool       `json:"ever_enforced,omitempty"`
	AppliedRevision int64      `json:"applied_revision,omitempty"`
	AppliedAt       *time.Time `json:"applied_at,omitempty"`
	Error           string     `json:"error,omitempty"`
	Message         string     `json:"message,omitempty"`
	UpdatedAt       *time.Time `json:"updated_at,omitempty"`
}

// FirewallNode is the per-node state beside the rules: an open confirm
// window, whether enforcement is suspended (a first enforcing apply that
// was not confirmed), and the reconciler's status.
type FirewallNode struct {
	Node      string           `json:"node"`
	Pending   *FirewallPending `json:"pending,omitempty"`
	Suspended bool             `json:"suspended,omitempty"`
	Status    FirewallStatus   `json:"status"`
}

// FirewallToolPort is one of the known optional ports, with whether a
// rule opens it now.
type FirewallToolPort struct {
	Name    string `json:"name"`
	Proto   string `json:"proto"`
	Port    int    `json:"port"`
	Purpose string `json:"purpose"`
	Open    bool   `json:"open"`
	RuleID  int64  `json:"rule_id,omitempty"`
}

// FirewallState is GET /firewall: everything the dashboard's Firewall row
// and `rampart firewall show` show.
type FirewallState struct {
	Node string `json:"node"`
	// Enforce is the operator's setting firewall.enforce; off, the rules
	// are a plan and nothing touches the host.
	Enforce   bool               `json:"enforce"`
	Rules     []*FirewallRule    `json:"rules"`
	ToolPorts []FirewallToolPort `json:"tool_ports"`
	Pending   *FirewallPending   `json:"pending,omitempty"`
	Suspended bool               `json:"suspended,omitempty"`
	Status    FirewallStatus     `json:"status"`
	// Plan is the exact nftables ruleset, in nft syntax.
	Plan string `json:"plan,omitempty"`
	// Notes say how the last change's input was normalised (host bits
	// cleared, duplicates dropped); set on answers to changes only.
	Notes []string `json:"notes,omitempty"`
}

// FirewallRuleList is GET /firewall/rules.
type FirewallRuleList struct {
	Rules []*FirewallRule `json:"rules"`
}

// FirewallRuleResult answers a change of one rule: the rule, the notes on
// how its input was normalised, and the open confirm window, if any.
type FirewallRuleResult struct {
	Rule    *FirewallRule    `json:"rule,omitempty"`
	Notes   []string         `json:"notes,omitempty"`
	Pending *FirewallPending `json:"pending,omitempty"`
}
