// Package firewall enforces a node's firewall rules with nftables, over
// netlink (github.com/google/nftables), in a table of rampart's own:
// `table inet rampart`. Other tables (Docker's, the distribution's,
// iptables-nft's) are never listed for rewriting, flushed or touched.
//
// The table has an input chain with policy drop that admits loopback,
// established and related traffic, the ICMP and ICMPv6 types a working
// network needs, and the rules; and a forward chain with policy accept that
// filters only connections DNAT'd to a published port (the way Docker
// publishes container ports, which host firewalls that look at the input
// chain alone do not see), with the same rules, so that a port is closed
// whichever way it is served. Rules compile to interval maps and sets
// (see plan), so a packet's cost does not grow with the number of rules or
// sources.
//
// A published port is judged by the port the client asked for (conntrack's
// original destination port), not the container's port behind it, and by
// the client's address. Every DNAT'd connection goes through the rules,
// so containers that reach each other through the host's published ports
// need a rule admitting their network too. Routed traffic that no DNAT
// touched passes as before.
//
// Apply replaces the whole table in one netlink batch, which the kernel
// commits atomically: a batch that fails changes nothing, and established
// connections survive a re-apply because conntrack is outside the table.
// Check tells a reconciler when someone else changed or deleted the table.
//
// The package takes a plain Ruleset and knows nothing about the store; the
// rule model and its parser are in the rules subpackage, which has no
// dependencies.
package firewall

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/google/nftables"
)

// TableName is the name of rampart's table, in the inet family.
const TableName = "rampart"

// ErrDrift is wrapped by Check's error when the live table is not what
// rampart last applied.
var ErrDrift = errors.New("firewall drift")

// Firewall applies rulesets to one network namespace's nftables and
// remembers what it applied, to notice drift. Its methods are safe for
// concurrent use; they are serialised, since a ruleset is one table.
type Firewall struct {
	netns int

	mu      sync.Mutex
	applied string // netlink dump of the table right after the last Apply
}

// Options configure a Firewall. The zero value manages the current
// network namespace.
type Options struct {
	// NetNS is a file descriptor of the network namespace to manage (as
	// from opening /var/run/netns/NAME); 0 is the calling process's own.
	NetNS int
}

// New returns a Firewall for the namespace in opts. It does not touch
// nftables until Apply.
func New(opts Options) *Firewall { return &Firewall{netns: opts.NetNS} }

// Apply validates rs and replaces rampart's table with it in one atomic
// netlink batch. On error the previous table (or its absence) is left
// exactly as it was.
func (f *Firewall) Apply(ctx context.Context, rs Ruleset) error {
	p, err := compile(rs)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	c, err := f.conn()
	if err != nil {
		return err
	}
	if err := build(c, p); err != nil {
		return fmt.Errorf("firewall: building the nftables batch: %w", err)
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("firewall: the kernel refused the ruleset, and the previous one stays in force: %w%s", err, hint(err))
	}
	dump, err := f.dump(c)
	if err != nil {
		// Applied, but drift detection has nothing to compare with: the
		// next Check reports drift and the reconciler applies again.
		f.applied = ""
		return fmt.Errorf("firewall: applied, but reading the table back failed: %w", err)
	}
	f.applied = dump
	return nil
}

// Remove deletes rampart's table, which opens the host back up to whatever
// the other tables allow: what turning enforcement off means. Removing a
// table that is not there is not an error.
func (f *Firewall) Remove(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	c, err := f.conn()
	if err != nil {
		return err
	}
	t := table()
	// Adding the table first makes the deletion succeed when it is absent.
	c.AddTable(t)
	c.DelTable(t)
	if err := c.Flush(); err != nil {
		return fmt.Errorf("firewall: deleting table inet %s: %w%s", TableName, err, hint(err))
	}
	f.applied = ""
	return nil
}

// Check reports whether the live table is still what the last Apply left:
// nil when it is, an error wrapping ErrDrift that says what differs when
// it is not (deleted, a rule or set element changed, nothing applied yet by
// this Firewall), and another error when nftables cannot be read. A
// reconciler repairs drift by applying again.
func (f *Firewall) Check(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.applied == "" {
		return fmt.Errorf("%w: nothing applied yet", ErrDrift)
	}
	c, err := f.conn()
	if err != nil {
		return err
	}
	live, err := f.dump(c)
	if errors.Is(err, errNoTable) {
		return fmt.Errorf("%w: table inet %s is gone (deleted by someone else)", ErrDrift, TableName)
	}
	if err != nil {
		return err
	}
	if live != f.applied {
		return fmt.Errorf("%w: table inet %s was changed by someone else: %s", ErrDrift, TableName, firstDifference(f.applied, live))
	}
	return nil
}

// Dump returns the live table as read back over netlink, in a stable text
// form (one line per chain, rule, set and element). It is what Check
// compares, and what tests compare before and after a refused batch. A
// missing table dumps as "".
func (f *Firewall) Dump(ctx context.Context) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	c, err := f.conn()
	if err != nil {
		return "", err
	}
	d, err := f.dump(c)
	if errors.Is(err, errNoTable) {
		return "", nil
	}
	return d, err
}

func firstDifference(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		switch {
		case i >= len(g):
			return fmt.Sprintf("missing %q", clip(w[i]))
		case i >= len(w):
			return fmt.Sprintf("unexpected %q", clip(g[i]))
		case w[i] != g[i]:
			return fmt.Sprintf("expected %q, found %q", clip(w[i]), clip(g[i]))
		}
	}
	return "no difference"
}

func (f *Firewall) conn() (*nftables.Conn, error) {
	c, err := nftables.New(nftables.WithNetNSFd(f.netns), nftables.WithSockOptions(bigBuffers))
	if err != nil {
		return nil, fmt.Errorf("firewall: opening netlink: %w%s", err, hint(err))
	}
	return c, nil
}

// clip shortens a dump line (rules are long hex strings) for a message.
func clip(s string) string {
	if len(s) > 100 {
		return s[:100] + "…"
	}
	return s
}
