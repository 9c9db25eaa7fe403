package firewall

import (
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/google/nftables"
)

var errNoTable = errors.New("no such table")

// dump reads rampart's table back over netlink into stable text: chains in
// name order with their hooks and policies, each chain's rules with their
// handles and expressions, sets with their types and sorted elements. Two
// dumps are equal exactly when nobody changed the table in between, which
// is what drift detection needs; it reads nothing outside the table.
func (f *Firewall) dump(c *nftables.Conn) (string, error) {
	tables, err := c.ListTablesOfFamily(nftables.TableFamilyINet)
	if err != nil {
		return "", fmt.Errorf("firewall: listing inet tables: %w%s", err, hint(err))
	}
	var t *nftables.Table
	for _, x := range tables {
		if x.Name == TableName {
			t = x
		}
	}
	if t == nil {
		return "", errNoTable
	}
	var b strings.Builder
	fmt.Fprintf(&b, "table inet %s flags=%d\n", t.Name, t.Flags)

	chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyINet)
	if err != nil {
		return "", fmt.Errorf("firewall: listing chains: %w", err)
	}
	chains = slices.DeleteFunc(chains, func(ch *nftables.Chain) bool { return ch.Table.Name != TableName })
	slices.SortFunc(chains, func(a, b *nftables.Chain) int { return strings.Compare(a.Name, b.Name) })
	for _, ch := range chains {
		fmt.Fprintf(&b, "chain %s type=%q hook=%s priority=%s policy=%s\n", ch.Name, ch.Type, deref(ch.Hooknum), deref(ch.Priority), deref(ch.Policy))
		rs, err := c.GetRules(t, ch)
		if err != nil {
			return "", fmt.Errorf("firewall: listing the rules of chain %s: %w", ch.Name, err)
		}
		for _, r := range rs {
			fmt.Fprintf(&b, "\trule handle=%d", r.Handle)
			for _, e := range r.Exprs {
				fmt.Fprintf(&b, " %T%+v", e, e)
			}
			b.WriteByte('\n')
		}
	}

	sets, err := c.GetSets(t)
	if err != nil {
		return "", fmt.Errorf("firewall: listing sets: %w", err)
	}
	slices.SortFunc(sets, func(a, b *nftables.Set) int { return strings.Compare(a.Name, b.Name) })
	for _, s := range sets {
		fmt.Fprintf(&b, "set %s key=%s data=%s interval=%t map=%t constant=%t\n", s.Name, s.KeyType.Name, s.DataType.Name, s.Interval, s.IsMap, s.Constant)
		elems, err := c.GetSetElements(s)
		if err != nil {
			return "", fmt.Errorf("firewall: listing the elements of set %s: %w", s.Name, err)
		}
		lines := make([]string, len(elems))
		for i, e := range elems {
			l := "\telem " + hex.EncodeToString(e.Key)
			if e.IntervalEnd {
				l += " end"
			}
			if len(e.Val) > 0 {
				l += " val=" + hex.EncodeToString(e.Val)
			}
			if v := e.VerdictData; v != nil {
				l += fmt.Sprintf(" verdict=%d:%s", v.Kind, v.Chain)
			}
			lines[i] = l
		}
		slices.Sort(lines)
		for _, l := range lines {
			b.WriteString(l)
			b.WriteByte('\n')
		}
	}
	return b.String(), nil
}

func deref[T any](p *T) string {
	if p == nil {
		return "-"
	}
	return fmt.Sprint(*p)
}
