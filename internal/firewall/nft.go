package firewall

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"slices"
	"syscall"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/rampart-dev/rampart/internal/firewall/rules"
)

// chunk is how many set elements go into one netlink message: the kernel
// takes a batch of many messages at once, but one message carrying tens of
// thousands of elements overflows netlink's attribute length.
const chunk = 2000

// bigBuffers raises the netlink socket's buffers so that a batch with
// 10,000 sources (about 1 MiB) is sent in one write and its acknowledgments
// are all read. Run as root, the socket library uses SO_SNDBUFFORCE, which
// is not capped by net.core.wmem_max.
func bigBuffers(c *netlink.Conn) error {
	const size = 16 << 20
	if err := c.SetWriteBuffer(size); err != nil {
		return err
	}
	return c.SetReadBuffer(size)
}

// hint turns the netlink errors people meet into what to do about them.
func hint(err error) string {
	switch {
	case errors.Is(err, os.ErrPermission), errors.Is(err, syscall.EPERM):
		return " (changing nftables needs root or CAP_NET_ADMIN)"
	case errors.Is(err, syscall.ENOENT):
		return " (is the nf_tables kernel module available? try `modprobe nf_tables`)"
	case errors.Is(err, syscall.EMSGSIZE), errors.Is(err, syscall.ENOBUFS):
		return " (the batch does not fit the netlink socket: use fewer, wider source networks)"
	}
	return ""
}

func table() *nftables.Table {
	return &nftables.Table{Name: TableName, Family: nftables.TableFamilyINet}
}

// Registers: the verdict register for vmap lookups, and register 1 for
// everything loaded and compared.
const (
	regVerdict = 0
	reg1       = 1
)

// build queues the whole table into c's batch: delete the table (adding it
// first, so that deleting cannot fail on a fresh host), then create it
// again with its sets, chains and rules. Nothing reaches the kernel until
// Flush, and the kernel commits the batch whole or not at all.
func build(c *nftables.Conn, p *plan) error {
	t := table()
	c.AddTable(t)
	c.DelTable(t)
	c.AddTable(t)

	var id uint32
	addSet := func(s *nftables.Set, elems []nftables.SetElement) error {
		id++
		s.Table, s.ID = t, id
		if err := c.AddSet(s, nil); err != nil {
			return fmt.Errorf("set %s: %w", s.Name, err)
		}
		for len(elems) > 0 {
			n := min(chunk, len(elems))
			if err := c.SetAddElements(s, elems[:n]); err != nil {
				return fmt.Errorf("set %s: %w", s.Name, err)
			}
			elems = elems[n:]
		}
		return nil
	}

	// The rules' own chains come first: the port maps jump to them.
	chains := map[string]*nftables.Chain{}
	for _, x := range p.restricted {
		chains[x.chain] = c.AddChain(&nftables.Chain{Name: x.chain, Table: t})
	}
	sets := map[string]*nftables.Set{}
	for _, proto := range []rules.Proto{rules.TCP, rules.UDP} {
		s := &nftables.Set{Name: string(proto) + "_ports", IsMap: true, Interval: true,
			KeyType: nftables.TypeInetService, DataType: nftables.TypeVerdict}
		var elems []nftables.SetElement
		for _, e := range p.ports[proto] {
			v := &expr.Verdict{Kind: expr.VerdictAccept}
			if e.chain != "" {
				v = &expr.Verdict{Kind: expr.VerdictJump, Chain: e.chain}
			}
			elems = append(elems, nftables.SetElement{Key: be16(e.from), VerdictData: v})
			// An interval ends at the element after its last port; one
			// reaching 65535 has no end element, as nft does it.
			if e.to < 65535 {
				elems = append(elems, nftables.SetElement{Key: be16(e.to + 1), IntervalEnd: true})
			}
		}
		if err := addSet(s, elems); err != nil {
			return err
		}
		sets[s.Name] = s
	}
	for _, x := range p.restricted {
		for _, fam := range []struct {
			name   string
			typ    nftables.SetDatatype
			ranges []addrRange
		}{{x.set4(), nftables.TypeIPAddr, x.v4}, {x.set6(), nftables.TypeIP6Addr, x.v6}} {
			if len(fam.ranges) == 0 {
				continue
			}
			s := &nftables.Set{Name: fam.name, Interval: true, KeyType: fam.typ}
			elems := make([]nftables.SetElement, 0, 2*len(fam.ranges))
			for _, r := range fam.ranges {
				elems = append(elems, nftables.SetElement{Key: r.from.AsSlice()})
				if next := r.to.Next(); next.IsValid() {
					elems = append(elems, nftables.SetElement{Key: next.AsSlice(), IntervalEnd: true})
				}
			}
			if err := addSet(s, elems); err != nil {
				return err
			}
			sets[s.Name] = s
		}
	}
	for _, icmp := range []struct {
		name  string
		typ   nftables.SetDatatype
		types []namedType
	}{{"icmp_types", nftables.TypeICMPType, icmpTypes}, {"icmpv6_types", nftables.TypeICMP6Type, icmpv6Types}} {
		s := &nftables.Set{Name: icmp.name, KeyType: icmp.typ}
		elems := make([]nftables.SetElement, len(icmp.types))
		for i, ty := range icmp.types {
			elems[i] = nftables.SetElement{Key: []byte{ty.code}}
		}
		if err := addSet(s, elems); err != nil {
			return err
		}
		sets[s.Name] = s
	}

	// Each rule is a list of expression groups, concatenated.
	add := func(ch *nftables.Chain, parts ...[]expr.Any) {
		c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: slices.Concat(parts...)})
	}
	accept := []expr.Any{&expr.Verdict{Kind: expr.VerdictAccept}}
	drop := []expr.Any{&expr.Verdict{Kind: expr.VerdictDrop}}

	for _, x := range p.restricted {
		ch := chains[x.chain]
		if x.any4 {
			add(ch, nfproto(unix.NFPROTO_IPV4), accept)
		}
		if len(x.v4) > 0 {
			add(ch, saddr4(), lookup(sets[x.set4()]), accept)
		}
		if x.any6 {
			add(ch, nfproto(unix.NFPROTO_IPV6), accept)
		}
		if len(x.v6) > 0 {
			add(ch, saddr6(), lookup(sets[x.set6()]), accept)
		}
	}

	input := c.AddChain(&nftables.Chain{Name: "input", Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookInput, Priority: nftables.ChainPriorityFilter, Policy: ref(nftables.ChainPolicyDrop)})
	add(input, []expr.Any{
		&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: reg1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: ifname("lo")},
	}, accept)
	add(input, ctStateAny(expr.CtStateBitESTABLISHED|expr.CtStateBitRELATED), accept)
	add(input, ctStateAny(expr.CtStateBitINVALID), drop)
	add(input, l4proto(unix.IPPROTO_ICMP), transport(0, 1), lookup(sets["icmp_types"]), accept)
	add(input, l4proto(unix.IPPROTO_ICMPV6), transport(0, 1), lookup(sets["icmpv6_types"]), accept)
	add(input, saddr6(), []expr.Any{
		&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 16,
			Mask: append([]byte{0xff, 0xc0}, make([]byte, 14)...), Xor: make([]byte, 16)},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: append([]byte{0xfe, 0x80}, make([]byte, 14)...)},
	}, l4proto(unix.IPPROTO_UDP),
		transport(0, 2), eq(be16(547)),
		transport(2, 2), eq(be16(546)),
		accept)
	protos := []struct {
		num  byte
		name rules.Proto
	}{{unix.IPPROTO_TCP, rules.TCP}, {unix.IPPROTO_UDP, rules.UDP}}
	for _, proto := range protos {
		add(input, l4proto(proto.num), transport(2, 2), vmap(sets[string(proto.name)+"_ports"]))
	}

	published := c.AddChain(&nftables.Chain{Name: "published", Table: t})
	for _, proto := range protos {
		// The port the client asked for, before DNAT rewrote it to the
		// container's.
		add(published, l4proto(proto.num), []expr.Any{
			&expr.Ct{Key: expr.CtKeyPROTODST, Direction: ctDirOriginal, Register: reg1},
		}, vmap(sets[string(proto.name)+"_ports"]))
	}
	add(published, drop)

	forward := c.AddChain(&nftables.Chain{Name: "forward", Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookForward, Priority: nftables.ChainPriorityFilter, Policy: ref(nftables.ChainPolicyAccept)})
	add(forward, ctStateAny(expr.CtStateBitESTABLISHED|expr.CtStateBitRELATED), accept)
	add(forward, []expr.Any{
		&expr.Ct{Key: expr.CtKeySTATUS, Register: reg1},
		&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4, Mask: native32(ipsDstNAT), Xor: native32(0)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: reg1, Data: native32(0)},
		&expr.Verdict{Kind: expr.VerdictJump, Chain: published.Name},
	})
	return nil
}

// ipsDstNAT is IPS_DST_NAT, conntrack's status bit for a connection whose
// destination was rewritten.
const ipsDstNAT = 1 << 5

func ref[T any](v T) *T { return &v }

func be16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }

// native32 encodes ct state and ct status values, which the kernel keeps
// in host byte order.
func native32(v uint32) []byte { return binary.NativeEndian.AppendUint32(nil, v) }

func ifname(s string) []byte {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, s)
	return b
}

func eq(data []byte) []expr.Any {
	return []expr.Any{&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: data}}
}

func nfproto(p byte) []expr.Any {
	return append([]expr.Any{&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: reg1}}, eq([]byte{p})...)
}

func l4proto(p byte) []expr.Any {
	return append([]expr.Any{&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg1}}, eq([]byte{p})...)
}

// transport loads len bytes at offset of the transport header.
func transport(offset, n uint32) []expr.Any {
	return []expr.Any{&expr.Payload{DestRegister: reg1, Base: expr.PayloadBaseTransportHeader, Offset: offset, Len: n}}
}

// saddr4 and saddr6 load the source address, after checking the family so
// that an IPv6 packet is never read as IPv4.
func saddr4() []expr.Any {
	return append(nfproto(unix.NFPROTO_IPV4),
		&expr.Payload{DestRegister: reg1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4})
}

func saddr6() []expr.Any {
	return append(nfproto(unix.NFPROTO_IPV6),
		&expr.Payload{DestRegister: reg1, Base: expr.PayloadBaseNetworkHeader, Offset: 8, Len: 16})
}

// ctStateAny matches when the connection's state has any of the bits.
func ctStateAny(bits uint32) []expr.Any {
	return []expr.Any{
		&expr.Ct{Key: expr.CtKeySTATE, Register: reg1},
		&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4, Mask: native32(bits), Xor: native32(0)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: reg1, Data: native32(0)},
	}
}

func lookup(s *nftables.Set) []expr.Any {
	return []expr.Any{&expr.Lookup{SourceRegister: reg1, SetName: s.Name, SetID: s.ID}}
}

// vmap looks register 1 up in a verdict map and takes the verdict found.
func vmap(s *nftables.Set) []expr.Any {
	return []expr.Any{&expr.Lookup{SourceRegister: reg1, DestRegister: regVerdict, IsDestRegSet: true, SetName: s.Name, SetID: s.ID}}
}

// ctDirOriginal is IP_CT_DIR_ORIGINAL: the direction of the packet that
// opened the connection, whose destination is what the client asked for.
const ctDirOriginal = 0
