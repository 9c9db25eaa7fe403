package main

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/rampart-dev/rampart"
)

func newFirewallCmd(cf *clientFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "firewall",
		Short: "Manage the server's host firewall (nftables)",
		Long: `The firewall guards the whole server, which every account shares: only admins
may see or change it. Inbound traffic is dropped unless a rule opens its port;
loopback, replies to the server's own connections and the ICMP a network needs
always pass. A rule opens a TCP or UDP port, or a range, to anyone or to a list
of addresses and networks. A new server starts with 22/tcp (SSH, which cannot
be removed), 80/tcp and 443/tcp (the edge) open to anyone; the known tool ports
(4242/udp, 18344-18346, 18374, 18445/tcp) stay closed until you open them.

Rules are applied only when the operator sets firewall.enforce: true (the
shipped dist/rampart.yaml does; --demo does not). Otherwise they are a plan:
stored, checked and shown (rampart firewall show --nft), never applied.

Commit-confirm: a change that touches SSH or the dashboard's port, and any
change made with --confirm-within, must be confirmed (rampart firewall confirm)
before its deadline, or the rules from before come back by themselves, even if
rampart restarts in between. So a mistake cannot lock you out for good.`,
	}
	cmd.AddCommand(newFirewallListCmd(cf), newFirewallShowCmd(cf), newFirewallAddCmd(cf), newFirewallUpdateCmd(cf),
		newFirewallRemoveCmd(cf), newFirewallToolCmd(cf), newFirewallApplyCmd(cf), newFirewallConfirmCmd(cf))
	return cmd
}

// firewallChangeFlags are --force and --confirm-within, which every change
// takes.
type firewallChangeFlags struct {
	force  bool
	within time.Duration
}

func (f *firewallChangeFlags) register(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&f.force, "force", false, "allow shutting your own address out of SSH or the dashboard's port (you reach the server another way)")
	cmd.Flags().DurationVar(&f.within, "confirm-within", 0, "undo the change by itself unless 'rampart firewall confirm' comes within this time (e.g. 60s)")
}

func (f *firewallChangeFlags) change() rampart.FirewallChange {
	return rampart.FirewallChange{Force: f.force, ConfirmWithin: rampart.Duration(f.within)}
}

func newFirewallListCmd(cf *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the firewall rules",
		Args:    exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := cf.client()
			if err != nil {
				return err
			}
			list, err := cl.ListFirewallRules(cmd.Context())
			if err != nil {
				return err
			}
			return output(cmd, list, func(w io.Writer) { firewallRulesTable(w, list) })
		},
	}
}

func firewallRulesTable(w io.Writer, list []*rampart.FirewallRule) {
	rows := make([][]string, 0, len(list))
	for _, r := range list {
		rows = append(rows, []string{strconv.FormatInt(r.ID, 10), r.Ports() + "/" + r.Proto, firewallSources(r.Sources), r.Comment})
	}
	table(w, []string{"ID", "PORT", "FROM", "COMMENT"}, rows)
}

// firewallSources shortens long lists: a rule may have 10,000 sources.
func firewallSources(s []string) string {
	switch {
	case len(s) == 0:
		return "any"
	case len(s) == 1 && s[0] == "0.0.0.0/0":
		return "any IPv4"
	case len(s) == 1 && s[0] == "::/0":
		return "any IPv6"
	case len(s) > 3:
		return strings.Join(s[:3], ", ") + fmt.Sprintf(" and %d more", len(s)-3)
	}
	return strings.Join(s, ", ")
}

func newFirewallShowCmd(cf *clientFlags) *cobra.Command {
	var nft bool
	cmd := &cobra.Command{
		Use:   "show [--nft]",
		Short: "Show the firewall: enforcement, rules, tool ports, an open confirm window",
		Long: `Shows whether the rules are enforced, what the server applied last, the rules,
the tool ports and an open confirm window with its deadline. --nft prints the
exact nftables ruleset instead, in nft syntax (what is applied, or with
enforcement off what would be).`,
		Example: `  rampart firewall show
  rampart firewall show --nft
  rampart firewall show -o json`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := cf.client()
			if err != nil {
				return err
			}
			s, err := cl.Firewall(cmd.Context())
			if err != nil {
				return err
			}
			if nft {
				if s.Plan == "" {
					return fmt.Errorf("the server did not render the ruleset: ask the server that runs 'rampart serve'")
				}
				_, err := io.WriteString(cmd.OutOrStdout(), s.Plan)
				return err
			}
			return output(cmd, s, func(w io.Writer) { printFirewall(w, s) })
		},
	}
	cmd.Flags().BoolVar(&nft, "nft", false, "print the exact nftables ruleset")
	return cmd
}

func printFirewall(w io.Writer, s *rampart.FirewallState) {
	switch {
	case !s.Enforce:
		fmt.Fprintln(w, "Enforcement: off. The rules below are a plan; nothing is applied to this server. Set firewall.enforce: true in the config (or RAMPART_FIREWALL_ENFORCE=true) and restart rampart to enforce them.")
	case s.Suspended:
		fmt.Fprintln(w, "Enforcement: suspended. The first enforcing apply was not confirmed in time; run 'rampart firewall apply' and then 'rampart firewall confirm'.")
	case s.Status.Error != "":
		fmt.Fprintf(w, "Enforcement: on, but the last apply failed: %s\n", s.Status.Error)
	case s.Status.Enforced && s.Status.AppliedAt != nil:
		fmt.Fprintf(w, "Enforcement: on. Applied %s.\n", s.Status.AppliedAt.Local().Format(time.DateTime))
	default:
		fmt.Fprintln(w, "Enforcement: on; waiting for the first apply.")
	}
	if s.Status.Message != "" {
		fmt.Fprintln(w, s.Status.Message)
	}
	if p := s.Pending; p != nil {
		fmt.Fprintf(w, "Confirm window open until %s (%s left): %s. Run 'rampart firewall confirm' to keep the rules, or the previous ones come back.\n",
			p.Deadline.Local().Format(time.TimeOnly), time.Until(p.Deadline).Round(time.Second), p.Reason)
	}
	fmt.Fprintln(w)
	firewallRulesTable(w, s.Rules)
	fmt.Fprintln(w)
	rows := make([][]string, 0, len(s.ToolPorts))
	for _, tp := range s.ToolPorts {
		state := "closed"
		if tp.Open {
			state = "open"
		}
		rows = append(rows, []string{fmt.Sprintf("%d/%s", tp.Port, tp.Proto), state, tp.Name + ": " + tp.Purpose})
	}
	table(w, []string{"TOOL PORT", "STATE", "WHAT FOR"}, rows)
}

func newFirewallAddCmd(cf *clientFlags) *cobra.Command {
	var (
		proto, port, comment string
		sources              []string
		ch                   firewallChangeFlags
	)
	cmd := &cobra.Command{
		Use:   "add --proto tcp|udp --port PORT[-PORT] [--source IP|CIDR ...] [--comment TEXT]",
		Short: "Open a port or a range of ports, to anyone or to some sources",
		Long: `Without --source the port is open to anyone over IPv4 and IPv6; --source any4
or any6 opens it over one family only. Networks with host bits set are
normalised (203.0.113.7/24 becomes 203.0.113.0/24) and the answer says so. A
port may belong to one rule only: rules that overlap are refused.`,
		Example: `  rampart firewall add --proto tcp --port 8000-8100 --source 203.0.113.0/24 --source 2001:db8::/32 --comment office
  rampart firewall add --proto udp --port 51820 --comment wireguard
  rampart firewall add --proto tcp --port 5432 --source 198.51.100.7 --confirm-within 60s`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			if proto == "" || port == "" {
				return usageError{fmt.Errorf("give --proto tcp|udp and --port, e.g. --proto tcp --port 8000-8100")}
			}
			cl, err := cf.client()
			if err != nil {
				return err
			}
			res, err := cl.AddFirewallRule(cmd.Context(), rampart.FirewallRuleInput{Proto: proto, Ports: port, Sources: sources, Comment: comment, FirewallChange: ch.change()})
			if err != nil {
				return err
			}
			return output(cmd, res, func(w io.Writer) {
				fmt.Fprintf(w, "Added rule %d: %s/%s from %s.\n", res.Rule.ID, res.Rule.Ports(), res.Rule.Proto, firewallSources(res.Rule.Sources))
				printFirewallResult(w, res)
			})
		},
	}
	cmd.Flags().StringVar(&proto, "proto", "", "tcp or udp")
	cmd.Flags().StringVar(&port, "port", "", "a port (8000) or a range (8000-8100)")
	cmd.Flags().StringArrayVar(&sources, "source", nil, "an address or network allowed to connect (repeat, or separate with commas); default: anyone")
	cmd.Flags().StringVar(&comment, "comment", "", "what the rule is for")
	ch.register(cmd)
	return cmd
}

func printFirewallResult(w io.Writer, res *rampart.FirewallRuleResult) {
	for _, n := range res.Notes {
		fmt.Fprintf(w, "Note: %s\n", n)
	}
	if p := res.Pending; p != nil {
		fmt.Fprintf(w, "Confirm within %s (until %s) with 'rampart firewall confirm', or the previous rules come back by themselves.\n",
			time.Until(p.Deadline).Round(time.Second), p.Deadline.Local().Format(time.TimeOnly))
	}
}

func parseRuleID(s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, usageError{fmt.Errorf("%q is not a rule number: see the ID column of 'rampart firewall list'", s)}
	}
	return id, nil
}

func newFirewallUpdateCmd(cf *clientFlags) *cobra.Command {
	var (
		proto, port, comment string
		sources              []string
		ch                   firewallChangeFlags
	)
	cmd := &cobra.Command{
		Use:   "update ID [--proto tcp|udp] [--port PORT[-PORT]] [--source IP|CIDR ...] [--comment TEXT]",
		Short: "Change a rule; what you leave out stays",
		Long: `--source replaces the rule's whole list (--source any opens it to anyone).
Restricting SSH (22/tcp) or the dashboard's port to sources without your own
address is refused unless --force; such a change always goes through a confirm
window when the firewall is enforced.`,
		Example: `  rampart firewall update 1 --source 203.0.113.0/24 --source 198.51.100.7
  rampart firewall update 1 --source any
  rampart firewall update 4 --port 8000-8200 --comment "app servers"`,
		Args: exactArgs("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseRuleID(args[0])
			if err != nil {
				return err
			}
			patch := rampart.FirewallRulePatch{FirewallChange: ch.change()}
			f := cmd.Flags()
			if f.Changed("proto") {
				patch.Proto = &proto
			}
			if f.Changed("port") {
				patch.Ports = &port
			}
			if f.Changed("source") {
				patch.Sources = &sources
			}
			if f.Changed("comment") {
				patch.Comment = &comment
			}
			if patch.Proto == nil && patch.Ports == nil && patch.Sources == nil && patch.Comment == nil {
				return usageError{fmt.Errorf("nothing to change: give --proto, --port, --source or --comment")}
			}
			cl, err := cf.client()
			if err != nil {
				return err
			}
			res, err := cl.UpdateFirewallRule(cmd.Context(), id, patch)
			if err != nil {
				return err
			}
			return output(cmd, res, func(w io.Writer) {
				fmt.Fprintf(w, "Rule %d: %s/%s from %s.\n", res.Rule.ID, res.Rule.Ports(), res.Rule.Proto, firewallSources(res.Rule.Sources))
				printFirewallResult(w, res)
			})
		},
	}
	cmd.Flags().StringVar(&proto, "proto", "", "tcp or udp")
	cmd.Flags().StringVar(&port, "port", "", "a port (8000) or a range (8000-8100)")
	cmd.Flags().StringArrayVar(&sources, "source", nil, "the new list of allowed addresses or networks (repeat); any: anyone")
	cmd.Flags().StringVar(&comment, "comment", "", "what the rule is for")
	ch.register(cmd)
	return cmd
}

func newFirewallRemoveCmd(cf *clientFlags) *cobra.Command {
	var (
		yes bool
		ch  firewallChangeFlags
	)
	cmd := &cobra.Command{
		Use:     "remove ID [--yes]",
		Aliases: []string{"rm"},
		Short:   "Remove a rule (asks first unless --yes)",
		Example: `  rampart firewall remove 5
  rampart firewall remove 5 --yes --confirm-within 60s`,
		Args: exactArgs("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseRuleID(args[0])
			if err != nil {
				return err
			}
			cl, err := cf.client()
			if err != nil {
				return err
			}
			if !yes {
				what := fmt.Sprintf("rule %d", id)
				if list, err := cl.ListFirewallRules(cmd.Context()); err == nil {
					for _, r := range list {
						if r.ID == id {
							what += fmt.Sprintf(" (%s/%s from %s)", r.Ports(), r.Proto, firewallSources(r.Sources))
						}
					}
				}
				ok, err := askFirewallYes(cmd, fmt.Sprintf("Remove %s? Its port closes to the sources it opened. [y/N] ", what))
				if err != nil {
					return err
				}
				if !ok {
					return fmt.Errorf("not removed")
				}
			}
			res, err := cl.RemoveFirewallRule(cmd.Context(), id, ch.change())
			if err != nil {
				return err
			}
			return output(cmd, res, func(w io.Writer) {
				fmt.Fprintf(w, "Removed rule %d.\n", id)
				printFirewallResult(w, res)
			})
		},
	}
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask")
	ch.register(cmd)
	return cmd
}

// askFirewallYes asks on the command's input; anything but y or yes, and
// an input that ends (a script without --yes), is no.
func askFirewallYes(cmd *cobra.Command, question string) (bool, error) {
	fmt.Fprint(cmd.ErrOrStderr(), question)
	line, err := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
	if err != nil && line == "" {
		fmt.Fprintln(cmd.ErrOrStderr())
		return false, usageError{fmt.Errorf("no answer on standard input: pass --yes to remove without asking")}
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return true, nil
	}
	return false, nil
}

func newFirewallToolCmd(cf *clientFlags) *cobra.Command {
	var ch firewallChangeFlags
	cmd := &cobra.Command{
		Use:   "tool PORT open|close",
		Short: "Open or close one of the known tool ports",
		Long: `The known tool ports: 4242/udp (private network), 18344/tcp (web terminal),
18345/tcp (code editor), 18346/tcp (file explorer), 18374/tcp (second web
terminal), 18445/tcp (log tail). Opening one opens it to anyone; for fewer
sources, add a rule instead.`,
		Example: `  rampart firewall tool 4242 open
  rampart firewall tool 18344 close`,
		Args: exactArgs("PORT", "open|close"),
		RunE: func(cmd *cobra.Command, args []string) error {
			port, err := strconv.Atoi(args[0])
			if err != nil {
				return usageError{fmt.Errorf("%q is not a port number", args[0])}
			}
			var open bool
			switch args[1] {
			case "open":
				open = true
			case "close":
			default:
				return usageError{fmt.Errorf("say open or close, not %q", args[1])}
			}
			cl, err := cf.client()
			if err != nil {
				return err
			}
			res, err := cl.SetFirewallToolPort(cmd.Context(), port, rampart.FirewallToolPortInput{Open: open, FirewallChange: ch.change()})
			if err != nil {
				return err
			}
			return output(cmd, res, func(w io.Writer) {
				fmt.Fprintf(w, "Tool port %d: %s.\n", port, args[1])
				printFirewallResult(w, res)
			})
		},
	}
	ch.register(cmd)
	return cmd
}

func newFirewallApplyCmd(cf *clientFlags) *cobra.Command {
	var within time.Duration
	cmd := &cobra.Command{
		Use:   "apply [--confirm-within 60s]",
		Short: "Re-apply the rules now, optionally behind a confirm window",
		Long: `With --confirm-within, the rules as they are now come back by themselves unless
'rampart firewall confirm' comes in time, undoing every change made meanwhile:
open the window, make your changes, check you can still get in, confirm. The
window survives a restart of rampart. After a first enforcing apply that was
not confirmed, apply enforces again (behind a 60s window).`,
		Example: `  rampart firewall apply --confirm-within 60s
  rampart firewall update 1 --source 203.0.113.0/24
  rampart firewall confirm`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := cf.client()
			if err != nil {
				return err
			}
			s, err := cl.ApplyFirewall(cmd.Context(), rampart.FirewallApplyInput{FirewallChange: rampart.FirewallChange{ConfirmWithin: rampart.Duration(within)}})
			if err != nil {
				return err
			}
			return output(cmd, s, func(w io.Writer) {
				if !s.Enforce {
					fmt.Fprintln(w, "Enforcement is off: nothing is applied to this server (set firewall.enforce: true to enforce).")
				} else {
					fmt.Fprintln(w, "Applying the rules.")
				}
				printFirewallResult(w, &rampart.FirewallRuleResult{Pending: s.Pending})
			})
		},
	}
	cmd.Flags().DurationVar(&within, "confirm-within", 0, "restore the current rules by themselves unless confirmed within this time (e.g. 60s)")
	return cmd
}

func newFirewallConfirmCmd(cf *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "confirm",
		Short: "Keep the rules of the open confirm window",
		Args:  exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := cf.client()
			if err != nil {
				return err
			}
			if err := cl.ConfirmFirewall(cmd.Context()); err != nil {
				return err
			}
			return output(cmd, map[string]bool{"confirmed": true}, func(w io.Writer) {
				fmt.Fprintln(w, "Confirmed: the rules stay.")
			})
		},
	}
}
