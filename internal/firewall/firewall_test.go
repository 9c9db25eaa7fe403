package firewall

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"

	"github.com/rampart-dev/rampart/internal/firewall/rules"
)

func rule(tb testing.TB, proto, ports, sources string) rules.Rule {
	tb.Helper()
	r, _, err := rules.ParseRule(proto, ports, sources, "")
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

func (l *lab) apply(tb testing.TB, rs ...rules.Rule) {
	tb.Helper()
	if err := l.fw.Apply(context.Background(), Ruleset{Rules: rs}); err != nil {
		tb.Fatal(err)
	}
}

// TestTraffic sends TCP connections and UDP datagrams over IPv4 and IPv6
// from the client to the server: opened ports answer, closed ones (with a
// program listening behind them) do not, and source-restricted rules admit
// only their sources.
func TestTraffic(t *testing.T) {
	l := newLab(t)
	for _, p := range []int{22, 8050, 8200, 9000, 9100, 9200} {
		l.server.serveTCP(t, p)
	}
	for _, p := range []int{5353, 5354, 6000} {
		l.server.serveUDP(t, p)
	}
	l.apply(t,
		rule(t, "tcp", "22", ""),
		rule(t, "tcp", "8000-8100", ""),
		rule(t, "udp", "5353", ""),
		rule(t, "tcp", "9000", client4b+", "+client6b),
		rule(t, "tcp", "9100", "any4"),
		rule(t, "tcp", "9200", "any6, 10.99.0.3"),
		rule(t, "udp", "6000", "10.99.0.0/30"), // .0-.3: both client addresses
	)
	for _, tc := range []struct {
		proto    string
		src, dst string
		port     int
		want     bool
	}{
		{"tcp", client4, server4, 22, true},
		{"tcp", client6, server6, 22, true},
		{"tcp", client4, server4, 8050, true},
		{"tcp", client6, server6, 8050, true},
		{"tcp", client4, server4, 8200, false},
		{"tcp", client6, server6, 8200, false},
		{"udp", client4, server4, 5353, true},
		{"udp", client6, server6, 5353, true},
		{"udp", client4, server4, 5354, false},
		{"udp", client6, server6, 5354, false},
		// Restricted to one address of each family.
		{"tcp", client4b, server4, 9000, true},
		{"tcp", client4, server4, 9000, false},
		{"tcp", client6b, server6, 9000, true},
		{"tcp", client6, server6, 9000, false},
		// Any IPv4 only.
		{"tcp", client4, server4, 9100, true},
		{"tcp", client6, server6, 9100, false},
		// Any IPv6 and one IPv4 address.
		{"tcp", client6, server6, 9200, true},
		{"tcp", client4b, server4, 9200, true},
		{"tcp", client4, server4, 9200, false},
		{"udp", client4, server4, 6000, true},
		{"udp", client6, server6, 6000, false},
		// TCP rules do not open UDP, and the reverse.
		{"udp", client4, server4, 8050, false},
		{"tcp", client4, server4, 5353, false},
	} {
		var got bool
		if tc.proto == "tcp" {
			got = l.client.tcpWorks(t, tc.src, hostPort(tc.dst, tc.port), wait(tc.want))
		} else {
			got = l.client.udpWorks(t, tc.src, hostPort(tc.dst, tc.port), wait(tc.want))
		}
		if got != tc.want {
			t.Errorf("%s from %s to %s: works=%v, want %v", tc.proto, tc.src, hostPort(tc.dst, tc.port), got, tc.want)
		}
	}
	// The server's own outgoing connections come back through
	// established,related, whatever the rules.
	l.client.serveTCP(t, 7777)
	if !l.server.tcpWorks(t, server4, hostPort(client4, 7777), expectOpen) {
		t.Error("the server cannot reach the client: replies to its own connections are dropped")
	}
}

// TestEstablishedSurvivesReapply closes a port under an open connection:
// the connection goes on, new ones are refused.
func TestEstablishedSurvivesReapply(t *testing.T) {
	l := newLab(t)
	l.server.serveTCP(t, 7000)
	l.apply(t, rule(t, "tcp", "22", ""), rule(t, "tcp", "7000", ""))
	c, err := l.client.dialTCP(t, client4, hostPort(server4, 7000), expectOpen)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if !echoes(c, expectOpen) {
		t.Fatal("no echo before the re-apply")
	}
	l.apply(t, rule(t, "tcp", "22", ""))
	for i := range 3 {
		if !echoes(c, expectOpen) {
			t.Fatalf("the established connection broke after the re-apply (exchange %d)", i+1)
		}
	}
	if l.client.tcpWorks(t, client4, hostPort(server4, 7000), expectClosed) {
		t.Error("a new connection to the closed port got through")
	}
}

// TestForeignTableAndPublishedPorts plays Docker: an `ip nat` table DNATs
// the server's port 8080 to a container in a third namespace. Applying
// rampart's ruleset leaves that table byte for byte as it was, and the
// published port obeys rampart's rules although its packets never reach
// the input chain.
func TestForeignTableAndPublishedPorts(t *testing.T) {
	l := newLab(t)
	box := newNS(t, "k")
	link(t, l.server, box, []string{"10.98.0.1/24"}, []string{"10.98.0.2/24"})
	box.run(t, "ip", "route", "add", "default", "via", "10.98.0.1")
	l.client.run(t, "ip", "route", "add", "10.98.0.0/24", "via", server4)
	l.server.run(t, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1")
	box.serveTCP(t, 80)
	l.server.nft(t, `
table ip nat {
	chain prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		tcp dport 8080 dnat to 10.98.0.2:80
	}
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
	}
}
table ip filter {
	chain FORWARD {
		type filter hook forward priority filter; policy accept;
		ct state established,related accept
	}
}
`, "-f", "-")
	// With handles (-a): a table deleted and rebuilt identically would
	// show new ones.
	foreign := func() string {
		return l.server.nft(t, "", "-a", "list", "table", "ip", "nat") + l.server.nft(t, "", "-a", "list", "table", "ip", "filter")
	}
	published := hostPort(server4, 8080)
	if !l.client.tcpWorks(t, client4, published, expectOpen) {
		t.Fatal("the DNAT'd port does not work before rampart applies anything: the test network is wrong")
	}
	before := foreign()

	l.apply(t, rule(t, "tcp", "22", ""))
	if l.client.tcpWorks(t, client4, published, expectClosed) {
		t.Error("the published port 8080 is reachable although no rule opens it")
	}
	// Routed traffic that no DNAT touched is the host's business, not the
	// firewall's: the forward chain's policy is accept.
	if !l.client.tcpWorks(t, client4, "10.98.0.2:80", expectOpen) {
		t.Error("plain forwarding to the container's own address broke")
	}
	l.apply(t, rule(t, "tcp", "22", ""), rule(t, "tcp", "8080", ""))
	if !l.client.tcpWorks(t, client4, published, expectOpen) {
		t.Error("the published port 8080 is closed although a rule opens it")
	}
	l.apply(t, rule(t, "tcp", "22", ""), rule(t, "tcp", "8080", client4b))
	if l.client.tcpWorks(t, client4, published, expectClosed) {
		t.Errorf("the published port 8080 admits %s, outside the rule's sources", client4)
	}
	if !l.client.tcpWorks(t, client4b, published, expectOpen) {
		t.Errorf("the published port 8080 refuses %s, one of the rule's sources", client4b)
	}
	// The container's port itself is not what is filtered: opening 80
	// does not open the published 8080.
	l.apply(t, rule(t, "tcp", "22", ""), rule(t, "tcp", "80", ""))
	if l.client.tcpWorks(t, client4, published, expectClosed) {
		t.Error("opening port 80 opened the published port 8080 that maps to it")
	}
	if after := foreign(); after != before {
		t.Errorf("the foreign tables changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if !strings.Contains(before, "dnat to 10.98.0.2:80") {
		t.Errorf("the foreign table as listed lacks its DNAT rule; the comparison proves nothing:\n%s", before)
	}
}

// TestRefusedBatchChangesNothing makes the kernel refuse a batch, after
// the deletion of the table is queued in it, and checks that the ruleset
// in force is the old one, down to rule handles and traffic.
func TestRefusedBatchChangesNothing(t *testing.T) {
	l := newLab(t)
	l.server.serveTCP(t, 443)
	ctx := context.Background()
	l.apply(t, rule(t, "tcp", "22", ""), rule(t, "tcp", "443", client4b))
	before, err := l.fw.Dump(ctx)
	if err != nil {
		t.Fatal(err)
	}
	listing := l.server.nft(t, "", "list", "table", "inet", TableName)

	p, err := compile(Ruleset{Rules: []rules.Rule{rule(t, "tcp", "22", ""), rule(t, "tcp", "443", "")}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := l.fw.conn()
	if err != nil {
		t.Fatal(err)
	}
	if err := build(c, p); err != nil {
		t.Fatal(err)
	}
	// An element that overlaps one already in the port map: the kernel
	// refuses it when it reaches it, at the end of the batch.
	bad := &nftables.Set{Table: table(), Name: "tcp_ports", ID: 1, IsMap: true, Interval: true,
		KeyType: nftables.TypeInetService, DataType: nftables.TypeVerdict}
	if err := c.SetAddElements(bad, []nftables.SetElement{
		{Key: be16(20), VerdictData: &expr.Verdict{Kind: expr.VerdictAccept}},
		{Key: be16(30), IntervalEnd: true},
	}); err != nil {
		t.Fatal(err)
	}
	err = c.Flush()
	if err == nil {
		t.Fatal("the kernel accepted the sabotaged batch; the test proves nothing")
	}
	t.Logf("the kernel refused the batch, as it should: %v", err)
	after, err := l.fw.Dump(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if after != before {
		t.Errorf("a refused batch changed the table:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if got := l.server.nft(t, "", "list", "table", "inet", TableName); got != listing {
		t.Errorf("nft lists another table after a refused batch:\nbefore:\n%s\nafter:\n%s", listing, got)
	}
	if err := l.fw.Check(ctx); err != nil {
		t.Errorf("Check after a refused batch: %v", err)
	}
	if l.client.tcpWorks(t, client4, hostPort(server4, 443), expectClosed) || !l.client.tcpWorks(t, client4b, hostPort(server4, 443), expectOpen) {
		t.Error("traffic does not follow the old ruleset after a refused batch")
	}
}

// TestInvalidRulesApplyNothing checks that every kind of invalid rule is
// refused with a clear error before anything reaches the kernel.
func TestInvalidRulesApplyNothing(t *testing.T) {
	l := newLab(t)
	ctx := context.Background()
	l.apply(t, rules.Defaults()...)
	before, err := l.fw.Dump(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ssh := rule(t, "tcp", "22", "")
	if err := l.fw.Apply(ctx, Ruleset{Rules: []rules.Rule{rule(t, "tcp", "443", "")}}); !errors.Is(err, rules.ErrInvalid) || !strings.Contains(err.Error(), "no rule opens 22/tcp") {
		t.Errorf("Apply without 22/tcp = %v; want a refusal naming 22/tcp", err)
	}
	for _, tc := range []struct {
		name string
		r    rules.Rule
		err  string
	}{
		{"unknown protocol", rules.Rule{Proto: "icmp", PortFrom: 1, PortTo: 1}, "unknown protocol"},
		{"port 0", rules.Rule{Proto: rules.TCP}, "port 0"},
		{"reversed range", rules.Rule{Proto: rules.TCP, PortFrom: 90, PortTo: 80}, "reversed"},
		{"host bits", rules.Rule{Proto: rules.TCP, PortFrom: 80, PortTo: 80, Sources: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/8")}}, "host bits"},
		{"duplicate", ssh, "both open 22/tcp"},
		{"overlap", rule(t, "tcp", "20-30", ""), "overlap"},
	} {
		err := l.fw.Apply(ctx, Ruleset{Rules: []rules.Rule{ssh, tc.r}})
		if !errors.Is(err, rules.ErrInvalid) || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: Apply error = %v; want one containing %q", tc.name, err, tc.err)
		}
	}
	if after, err := l.fw.Dump(ctx); err != nil || after != before {
		t.Errorf("refused rulesets changed the table (%v):\nbefore:\n%s\nafter:\n%s", err, before, after)
	}
}

// TestDrift changes the table behind rampart's back, as an administrator
// or another program might: Check notices, and applying again repairs it.
func TestDrift(t *testing.T) {
	l := newLab(t)
	ctx := context.Background()
	rs := Ruleset{Rules: []rules.Rule{rule(t, "tcp", "22", ""), rule(t, "tcp", "443", "203.0.113.0/24")}}
	if err := l.fw.Check(ctx); !errors.Is(err, ErrDrift) {
		t.Fatalf("Check before any Apply = %v; want drift", err)
	}
	for _, tc := range []struct {
		name, script, want string
	}{
		{"table deleted", "delete table inet rampart", "is gone"},
		{"rule added", "add rule inet rampart input tcp dport 3306 accept", "changed by someone else"},
		{"element added", "add element inet rampart tcp_ports { 3306 : accept }", "changed by someone else"},
		{"source added", "add element inet rampart tcp_443_443_v4 { 198.51.100.7 }", "changed by someone else"},
		{"policy changed", "add chain inet rampart input { policy accept; }", "changed by someone else"},
	} {
		if err := l.fw.Apply(ctx, rs); err != nil {
			t.Fatal(err)
		}
		if err := l.fw.Check(ctx); err != nil {
			t.Fatalf("%s: Check right after Apply: %v", tc.name, err)
		}
		l.server.nft(t, tc.script+"\n", "-f", "-")
		err := l.fw.Check(ctx)
		if !errors.Is(err, ErrDrift) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Check = %v; want drift saying %q", tc.name, err, tc.want)
		}
	}
	if err := l.fw.Apply(ctx, rs); err != nil {
		t.Fatal(err)
	}
	if err := l.fw.Check(ctx); err != nil {
		t.Errorf("Check after the repairing Apply: %v", err)
	}
	if err := l.fw.Remove(ctx); err != nil {
		t.Fatal(err)
	}
	if d, err := l.fw.Dump(ctx); err != nil || d != "" {
		t.Errorf("after Remove, Dump = %q, %v; want no table", d, err)
	}
	if err := l.fw.Remove(ctx); err != nil {
		t.Errorf("Remove without a table: %v", err)
	}
}

// TestRenderIsWhatApplyLoads loads Render's text with `nft -f` in one
// namespace and applies the same ruleset over netlink in another: nft
// lists the two tables identically.
func TestRenderIsWhatApplyLoads(t *testing.T) {
	need(t)
	var many []string
	for i := range 300 {
		// Pairs of neighbours merge into one interval; the rest stay apart.
		many = append(many, netip.AddrFrom4([4]byte{100, 64, byte(i / 100), byte(i % 100 * 2 / 3)}).String())
	}
	rs := Ruleset{Rules: []rules.Rule{
		rule(t, "tcp", "22", "203.0.113.0/24, 2001:db8::/32, 198.51.100.7"),
		rule(t, "tcp", "80", ""),
		rule(t, "tcp", "443", ""),
		// Ranges that reach the last address or port have no end element.
		rule(t, "tcp", "60000-65535", "255.255.255.255, ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff, 192.0.2.0/24"),
		rule(t, "tcp", "8080", "any4"),
		rule(t, "udp", "4242", "any6"),
		rule(t, "udp", "1-100", strings.Join(many, ",")+", 10.0.0.0/25, 10.0.0.128/25"),
	}}
	// The defaults have no UDP rule and no restricted rule: empty maps,
	// no rule chains.
	for _, rs := range []Ruleset{{Rules: rules.Defaults()}, rs} {
		text, err := Render(rs)
		if err != nil {
			t.Fatal(err)
		}
		viaNft, viaNetlink := newNS(t, "r"), newNS(t, "a")
		viaNft.nft(t, text, "-f", "-")
		if err := New(Options{NetNS: viaNetlink.fd}).Apply(context.Background(), rs); err != nil {
			t.Fatal(err)
		}
		want := viaNft.nft(t, "", "list", "table", "inet", TableName)
		got := viaNetlink.nft(t, "", "list", "table", "inet", TableName)
		if got != want {
			t.Errorf("the applied table differs from the rendered one:\nrendered, loaded by nft:\n%s\napplied over netlink:\n%s", want, got)
		}
		if !strings.Contains(got, "ct original proto-dst vmap @tcp_ports") || !strings.Contains(got, "policy drop") {
			t.Errorf("the listing lacks the input policy or the published-port filter:\n%s", got)
		}
		if len(rs.Rules) > 3 {
			for _, s := range []string{"10.0.0.0/24", "jump tcp_22_22", "255.255.255.255", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "meta nfproto ipv4 accept", "meta nfproto ipv6 accept", "60000-65535 : jump"} {
				if !strings.Contains(got, s) {
					t.Errorf("the listing lacks %q:\n%s", s, got)
				}
			}
			t.Logf("Render:\n%s", text)
		}
	}
}

// TestRenderNeedsNoPrivileges is the plan mode: rendering touches no
// netlink, and an invalid ruleset is refused.
func TestRenderNeedsNoPrivileges(t *testing.T) {
	text, err := Render(Ruleset{Rules: rules.Defaults()})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"table inet rampart {", "22 : accept, 80 : accept, 443 : accept", "policy drop;", "#   1. 22/tcp from any (SSH)"} {
		if !strings.Contains(text, s) {
			t.Errorf("Render lacks %q:\n%s", s, text)
		}
	}
	if _, err := Render(Ruleset{Rules: append(rules.Defaults(), rules.Defaults()[0])}); !errors.Is(err, rules.ErrInvalid) {
		t.Errorf("Render of a duplicate rule: %v", err)
	}
}
