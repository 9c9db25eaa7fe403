package dataplane

import (
	"github.com/rampart-dev/rampart/internal/firewall"
	"github.com/rampart-dev/rampart/internal/firewall/rules"
)

// RenderFirewall prints rs in nft syntax exactly as the firewall
// reconciler would apply it (app.FirewallOptions.Render): the service
// layer shows the plan without linking nftables.
func RenderFirewall(rs []rules.Rule) (string, error) {
	return firewall.Render(firewall.Ruleset{Rules: rs})
}
