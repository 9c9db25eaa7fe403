package firewall

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/google/nftables"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
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
	}
	// Rules and set elements are read as the kernel encodes them, without
	// decoding: google/nftables v0.3.0 cannot decode the `ct original
	// proto-dst` expression it encodes (the kernel sends the direction
	// back as one byte, the library expects four), decoding 20,000
	// elements costs more than applying them, and the bytes are the more
	// exact fingerprint anyway.
	nl, err := netlink.Dial(unix.NETLINK_NETFILTER, &netlink.Config{NetNS: f.netns})
	if err != nil {
		return "", fmt.Errorf("firewall: opening netlink: %w%s", err, hint(err))
	}
	defer nl.Close()
	if err := bigBuffers(nl); err != nil {
		return "", fmt.Errorf("firewall: sizing the netlink buffers: %w", err)
	}
	rs, err := rawRules(nl)
	if err != nil {
		return "", err
	}
	b.WriteString(rs)

	sets, err := c.GetSets(t)
	if err != nil {
		return "", fmt.Errorf("firewall: listing sets: %w", err)
	}
	slices.SortFunc(sets, func(a, b *nftables.Set) int { return strings.Compare(a.Name, b.Name) })
	for _, s := range sets {
		fmt.Fprintf(&b, "set %s key=%s data=%s interval=%t map=%t constant=%t\n", s.Name, s.KeyType.Name, s.DataType.Name, s.Interval, s.IsMap, s.Constant)
		elems, err := rawElements(nl, s.Name)
		if err != nil {
			return "", err
		}
		for _, e := range elems {
			b.WriteString("\telem ")
			b.WriteString(e)
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

// nfDump sends one nf_tables dump request for rampart's table and returns
// each answer's attributes (after the nfgenmsg header).
func nfDump(nl *netlink.Conn, msgType uint16, attrs []netlink.Attribute) ([][]byte, error) {
	data, err := netlink.MarshalAttributes(attrs)
	if err != nil {
		return nil, err
	}
	msgs, err := nl.Execute(netlink.Message{
		Header: netlink.Header{
			Type:  netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | msgType),
			Flags: netlink.Request | netlink.Dump,
		},
		// nfgenmsg: family, version, resource id.
		Data: append([]byte{unix.NFPROTO_INET, unix.NFNETLINK_V0, 0, 0}, data...),
	})
	if err != nil {
		return nil, err
	}
	out := make([][]byte, 0, len(msgs))
	for _, m := range msgs {
		if len(m.Data) >= 4 {
			out = append(out, m.Data[4:])
		}
	}
	return out, nil
}

// rawRules lists the table's rules, one line each: chain, handle, and the
// expressions' and user data's bytes. The request names rampart's table,
// so the kernel returns nothing else.
func rawRules(nl *netlink.Conn) (string, error) {
	answers, err := nfDump(nl, unix.NFT_MSG_GETRULE, []netlink.Attribute{{Type: unix.NFTA_RULE_TABLE, Data: []byte(TableName + "\x00")}})
	if err != nil {
		return "", fmt.Errorf("firewall: listing rules: %w%s", err, hint(err))
	}
	lines := make([]string, 0, len(answers))
	for _, a := range answers {
		ad, err := netlink.NewAttributeDecoder(a)
		if err != nil {
			return "", fmt.Errorf("firewall: decoding a rule: %w", err)
		}
		var chain, exprs, udata string
		var handle uint64
		for ad.Next() {
			switch ad.Type() {
			case unix.NFTA_RULE_CHAIN:
				chain = ad.String()
			case unix.NFTA_RULE_HANDLE:
				handle = binary.BigEndian.Uint64(ad.Bytes())
			case unix.NFTA_RULE_EXPRESSIONS:
				exprs = hex.EncodeToString(ad.Bytes())
			case unix.NFTA_RULE_USERDATA:
				udata = hex.EncodeToString(ad.Bytes())
			}
		}
		if err := ad.Err(); err != nil {
			return "", fmt.Errorf("firewall: decoding a rule: %w", err)
		}
		lines = append(lines, fmt.Sprintf("rule chain=%s handle=%d exprs=%s userdata=%s\n", chain, handle, exprs, udata))
	}
	// Chains in name order, rules in the kernel's order within a chain.
	slices.SortStableFunc(lines, func(a, b string) int {
		return strings.Compare(strings.Fields(a)[1], strings.Fields(b)[1])
	})
	return strings.Join(lines, ""), nil
}

// rawElements lists a set's elements, each as the hex of its attributes
// (key, interval flag, verdict), sorted.
func rawElements(nl *netlink.Conn, set string) ([]string, error) {
	answers, err := nfDump(nl, unix.NFT_MSG_GETSETELEM, []netlink.Attribute{
		{Type: unix.NFTA_SET_ELEM_LIST_TABLE, Data: []byte(TableName + "\x00")},
		{Type: unix.NFTA_SET_ELEM_LIST_SET, Data: []byte(set + "\x00")},
	})
	if err != nil {
		return nil, fmt.Errorf("firewall: listing the elements of set %s: %w", set, err)
	}
	var elems []string
	for _, a := range answers {
		ad, err := netlink.NewAttributeDecoder(a)
		if err != nil {
			return nil, fmt.Errorf("firewall: decoding set %s: %w", set, err)
		}
		for ad.Next() {
			if ad.Type() != unix.NFTA_SET_ELEM_LIST_ELEMENTS {
				continue
			}
			ad.Nested(func(nd *netlink.AttributeDecoder) error {
				for nd.Next() {
					elems = append(elems, hex.EncodeToString(nd.Bytes()))
				}
				return nil
			})
		}
		if err := ad.Err(); err != nil {
			return nil, fmt.Errorf("firewall: decoding set %s: %w", set, err)
		}
	}
	slices.Sort(elems)
	return elems, nil
}
