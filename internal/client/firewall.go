package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/rampart-dev/rampart"
)

// Firewall returns the node's firewall: rules, tool ports, the open
// confirm window, the reconciler's status and the nft plan.
func (c *Client) Firewall(ctx context.Context) (*rampart.FirewallState, error) {
	var s rampart.FirewallState
	if err := c.do(ctx, http.MethodGet, "/firewall", nil, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// ListFirewallRules returns the node's firewall rules.
func (c *Client) ListFirewallRules(ctx context.Context) ([]*rampart.FirewallRule, error) {
	var out rampart.FirewallRuleList
	if err := c.do(ctx, http.MethodGet, "/firewall/rules", nil, &out); err != nil {
		return nil, err
	}
	return out.Rules, nil
}

// AddFirewallRule opens a port or range to some sources.
func (c *Client) AddFirewallRule(ctx context.Context, in rampart.FirewallRuleInput) (*rampart.FirewallRuleResult, error) {
	var out rampart.FirewallRuleResult
	if err := c.do(ctx, http.MethodPost, "/firewall/rules", in, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// UpdateFirewallRule changes the fields of rule id that patch sets.
func (c *Client) UpdateFirewallRule(ctx context.Context, id int64, patch rampart.FirewallRulePatch) (*rampart.FirewallRuleResult, error) {
	var out rampart.FirewallRuleResult
	if err := c.do(ctx, http.MethodPatch, "/firewall/rules/"+strconv.FormatInt(id, 10), patch, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// RemoveFirewallRule removes rule id; the answer's Pending is the open
// confirm window, if any.
func (c *Client) RemoveFirewallRule(ctx context.Context, id int64, ch rampart.FirewallChange) (*rampart.FirewallRuleResult, error) {
	q := url.Values{}
	if ch.Force {
		q.Set("force", "true")
	}
	if ch.ConfirmWithin != 0 {
		q.Set("confirm_within", time.Duration(ch.ConfirmWithin).String())
	}
	p := "/firewall/rules/" + strconv.FormatInt(id, 10)
	if len(q) > 0 {
		p += "?" + q.Encode()
	}
	var out rampart.FirewallRuleResult
	if err := c.do(ctx, http.MethodDelete, p, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// SetFirewallToolPort opens or closes a known tool port.
func (c *Client) SetFirewallToolPort(ctx context.Context, port int, in rampart.FirewallToolPortInput) (*rampart.FirewallRuleResult, error) {
	var out rampart.FirewallRuleResult
	if err := c.do(ctx, http.MethodPut, "/firewall/tool-ports/"+strconv.Itoa(port), in, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ApplyFirewall re-applies the ruleset, behind a confirm window when
// in.ConfirmWithin is set.
func (c *Client) ApplyFirewall(ctx context.Context, in rampart.FirewallApplyInput) (*rampart.FirewallState, error) {
	var s rampart.FirewallState
	if err := c.do(ctx, http.MethodPost, "/firewall/apply", in, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// ConfirmFirewall confirms the open confirm window.
func (c *Client) ConfirmFirewall(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, "/firewall/confirm", nil, nil)
}
