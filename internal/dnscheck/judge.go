package dnscheck

// The judgement of the answers: whether a name points here, and if not,
// a sentence that says why and what to change.

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/rampart-dev/rampart"
)

// pointsHere judges one resolver's answer; see ResolverResult.PointsHere.
func pointsHere(rr ResolverResult, t Target) bool {
	if target := normName(t.CNAME); target != "" && slices.Contains(rr.CNAME, target) {
		return true
	}
	return addrsHere(rr, t) && (t.Token == "" || hasToken(rr.TXT, t.Token))
}

// addrsHere: there is at least one address, and every one is the node's.
func addrsHere(rr ResolverResult, t Target) bool {
	if len(rr.A)+len(rr.AAAA) == 0 {
		return false
	}
	for _, a := range slices.Concat(rr.A, rr.AAAA) {
		if !isTarget(a, t) {
			return false
		}
	}
	return true
}

// hasToken reports whether one of the TXT values is the token. Case is
// ignored: the token is hex, and some DNS panels change the case of what
// is pasted into them.
func hasToken(values []string, token string) bool {
	for _, v := range values {
		if strings.EqualFold(v, token) {
			return true
		}
	}
	return false
}

func isTarget(a netip.Addr, t Target) bool {
	for _, ip := range t.IPs {
		if ip.Unmap().WithZone("") == a {
			return true
		}
	}
	return false
}

func normName(s string) string {
	return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(s)), ".")
}

// judge decides Result.PointsHere and writes its Reason.
func judge(name string, t Target, rs []answer) (bool, string) {
	var answered, here []answer
	for _, r := range rs {
		if r.Err == "" {
			answered = append(answered, r)
			if r.PointsHere {
				here = append(here, r)
			}
		}
	}
	switch {
	case len(rs) == 0:
		return false, "no DNS resolvers are configured: list some (e.g. 1.1.1.1, 9.9.9.9) or fix /etc/resolv.conf"
	case len(answered) == 0:
		msgs := make([]string, len(rs))
		for i, r := range rs {
			msgs[i] = fmt.Sprintf("resolver %s did not answer: %s", short(r.Resolver), r.Err)
		}
		return false, strings.Join(msgs, "; ")
	case len(here) == len(answered):
		return true, ""
	}
	var behind answer
	for _, r := range answered {
		if !r.PointsHere {
			behind = r
			break
		}
	}
	reason := whyNot(name, t, behind)
	if len(here) > 0 {
		reason = fmt.Sprintf("%d of %d resolvers see the new record; waiting for the rest to catch up (%s still sees %s)",
			len(here), len(answered), short(behind.Resolver), view(behind, t))
	}
	if p := partial(behind); p != "" {
		reason += "; " + p
	}
	return false, reason
}

// partial says which type a resolver answered when it failed the other,
// since its view is then only half of what the reason describes.
func partial(r answer) string {
	switch {
	case r.AErr != "":
		return fmt.Sprintf("%s answered only AAAA; A: no answer (%s)", short(r.Resolver), r.AErr)
	case r.AAAAErr != "":
		return fmt.Sprintf("%s answered only A; AAAA: no answer (%s)", short(r.Resolver), r.AAAAErr)
	}
	return ""
}

// whyNot explains why one resolver's answer does not point here.
func whyNot(name string, t Target, r answer) string {
	addrs := slices.Concat(r.A, r.AAAA)
	switch {
	case len(r.CNAME) == 0 && len(addrs) == 0 && r.nxdomain:
		return fmt.Sprintf("no A, AAAA or CNAME record for %s yet (NXDOMAIN at %s): %s", name, short(r.Resolver), advice(name, t))
	case len(r.CNAME) == 0 && len(addrs) == 0:
		return fmt.Sprintf("no A, AAAA or CNAME record for %s yet (%s knows the name, but not these records): %s", name, short(r.Resolver), advice(name, t))
	case addrsHere(r.ResolverResult, t):
		// Only the TXT record is missing (pointsHere said no).
		return whyNotTXT(name, t, r)
	}
	var here, elsewhere []netip.Addr
	for _, a := range addrs {
		if isTarget(a, t) {
			here = append(here, a)
		} else {
			elsewhere = append(elsewhere, a)
		}
	}
	if len(here) > 0 {
		return fmt.Sprintf("DNS points at %s, but %s %s not this server: remove %s, or use a CNAME to %s instead",
			joinAddrs(addrs), joinAddrs(elsewhere), isAre(len(elsewhere)), itThem(len(elsewhere)), expectedCNAME(t))
	}
	at := joinAddrs(addrs)
	if len(r.CNAME) > 0 {
		end := r.CNAME[len(r.CNAME)-1]
		if at == "" {
			return fmt.Sprintf("DNS points at %s (a CNAME), which has no address, expected %s", end, expected(name, t))
		}
		at += " (via a CNAME to " + end + ")"
	}
	return fmt.Sprintf("DNS points at %s, expected %s", at, expected(name, t))
}

// whyNotTXT explains why addresses that are the node's do not prove the
// name: the TXT record that must come with them is missing, unreadable or
// holds another value (another service's token, an old one).
func whyNotTXT(name string, t Target, r answer) string {
	rec := fmt.Sprintf("a TXT record %s with the value %q", rampart.ChallengeName(name), t.Token)
	alt := ""
	if c := normName(t.CNAME); c != "" {
		alt = ", or use a CNAME to " + c + " instead"
	}
	at := joinAddrs(slices.Concat(r.A, r.AAAA))
	switch {
	case r.TXTErr != "":
		return fmt.Sprintf("DNS points at %s, this server, but %s could not say whether the TXT record %s exists (%s); it proves the name is this service's: make sure %s exists%s",
			at, short(r.Resolver), rampart.ChallengeName(name), r.TXTErr, rec, alt)
	case len(r.TXT) == 0:
		return fmt.Sprintf("DNS points at %s, this server, but other accounts share it, so an address does not prove the name is this service's: add %s%s", at, rec, alt)
	}
	return fmt.Sprintf("the TXT record %s holds %s, not this service's token: set its value to %q%s",
		rampart.ChallengeName(name), quoteValues(r.TXT), t.Token, alt)
}

// quoteValues quotes TXT values as seen, each cut to a length that fits in
// a sentence (they come from anyone's DNS).
func quoteValues(vs []string) string {
	const maxLen = 48
	q := make([]string, len(vs))
	for i, v := range vs {
		if len(v) > maxLen {
			v = v[:maxLen] + "…"
		}
		q[i] = fmt.Sprintf("%q", v)
	}
	if len(q) < 2 {
		return strings.Join(q, "")
	}
	return strings.Join(q[:len(q)-1], ", ") + " and " + q[len(q)-1]
}

// view is a short account of what a lagging resolver sees.
func view(r answer, t Target) string {
	addrs := slices.Concat(r.A, r.AAAA)
	switch {
	case len(addrs) > 0 && r.TXTErr == "" && len(r.TXT) == 0 && t.Token != "" && addrsHere(r.ResolverResult, t):
		return joinAddrs(addrs) + " without the TXT record"
	case len(addrs) > 0:
		return joinAddrs(addrs)
	case len(r.CNAME) > 0:
		return "a CNAME to " + r.CNAME[len(r.CNAME)-1]
	case r.nxdomain:
		return "no record (NXDOMAIN)"
	}
	return "no address record"
}

// expected lists what the name may point at: "198.51.100.7 or a CNAME to
// blog.apps.example.com", with the TXT record the addresses need on a
// shared node.
func expected(name string, t Target) string {
	var ips []string
	for _, ip := range t.IPs {
		ips = append(ips, ip.Unmap().String())
	}
	c := normName(t.CNAME)
	if t.Token != "" && len(ips) > 0 {
		alt := fmt.Sprintf("%s together with a TXT record %s with the value %q", joinWords(ips), rampart.ChallengeName(name), t.Token)
		if c == "" {
			return alt
		}
		return "a CNAME to " + c + ", or " + alt
	}
	alts := ips
	if c != "" {
		alts = append(alts, "a CNAME to "+c)
	}
	switch len(alts) {
	case 0:
		return "this server, whose address is not configured (set the node's public IPs)"
	case 1:
		return alts[0]
	}
	return strings.Join(alts[:len(alts)-1], ", ") + " or " + alts[len(alts)-1]
}

// advice says which record to add. CNAME comes first, as the dashboard
// recommends it (it keeps working when the node's address changes, and it
// proves the name on its own), but a bare domain (example.com) cannot have
// one, hence the alternative, which on a shared node needs the TXT record.
func advice(name string, t Target) string {
	c := normName(t.CNAME)
	ips := make([]netip.Addr, len(t.IPs))
	for i, ip := range t.IPs {
		ips[i] = ip.Unmap()
	}
	addrs := "A/AAAA records for " + joinAddrs(ips)
	if t.Token != "" {
		addrs += fmt.Sprintf(" and a TXT record %s with the value %q", rampart.ChallengeName(name), t.Token)
	}
	switch {
	case c != "" && len(ips) > 0:
		return fmt.Sprintf("add a CNAME record to %s, or %s if it is a bare domain (example.com), which cannot have a CNAME", c, addrs)
	case c != "":
		return "add a CNAME record to " + c
	case len(ips) > 0:
		return "add " + addrs
	}
	return "set the node's public IPs, then add A/AAAA records for them"
}

func expectedCNAME(t Target) string {
	if c := normName(t.CNAME); c != "" {
		return c
	}
	return "this service's platform hostname"
}

// joinAddrs lists addresses as in a sentence: "a", "a and b", "a, b and c".
func joinAddrs(addrs []netip.Addr) string {
	s := make([]string, len(addrs))
	for i, a := range addrs {
		s[i] = a.String()
	}
	return joinWords(s)
}

// joinWords lists words as in a sentence: "a", "a and b", "a, b and c".
func joinWords(s []string) string {
	if len(s) < 2 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " and " + s[len(s)-1]
}

func isAre(n int) string {
	if n == 1 {
		return "is"
	}
	return "are"
}

func itThem(n int) string {
	if n == 1 {
		return "that record"
	}
	return "those records"
}

// short names a resolver as people write it: without ":53".
func short(resolver string) string {
	ap, err := netip.ParseAddrPort(resolver)
	if err != nil || ap.Port() != 53 {
		return resolver
	}
	return ap.Addr().String()
}
