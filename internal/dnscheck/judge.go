package dnscheck

// The judgement of the answers: whether a name points here, and if not,
// a sentence that says why and what to change.

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// pointsHere judges one resolver's answer; see ResolverResult.PointsHere.
func pointsHere(rr ResolverResult, t Target) bool {
	if target := normName(t.CNAME); target != "" && slices.Contains(rr.CNAME, target) {
		return true
	}
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
			len(here), len(answered), short(behind.Resolver), view(behind))
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
		return fmt.Sprintf("no A, AAAA or CNAME record for %s yet (NXDOMAIN at %s): %s", name, short(r.Resolver), advice(t))
	case len(r.CNAME) == 0 && len(addrs) == 0:
		return fmt.Sprintf("no A, AAAA or CNAME record for %s yet (%s knows the name, but not these records): %s", name, short(r.Resolver), advice(t))
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
			return fmt.Sprintf("DNS points at %s (a CNAME), which has no address, expected %s", end, expected(t))
		}
		at += " (via a CNAME to " + end + ")"
	}
	return fmt.Sprintf("DNS points at %s, expected %s", at, expected(t))
}

// view is a short account of what a lagging resolver sees.
func view(r answer) string {
	addrs := slices.Concat(r.A, r.AAAA)
	switch {
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
// blog.apps.example.com".
func expected(t Target) string {
	var alts []string
	for _, ip := range t.IPs {
		alts = append(alts, ip.Unmap().String())
	}
	if c := normName(t.CNAME); c != "" {
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
// recommends it (it keeps working when the node's address changes), but a
// bare domain (example.com) cannot have one, hence the alternative.
func advice(t Target) string {
	c := normName(t.CNAME)
	ips := make([]netip.Addr, len(t.IPs))
	for i, ip := range t.IPs {
		ips[i] = ip.Unmap()
	}
	switch {
	case c != "" && len(ips) > 0:
		return fmt.Sprintf("add a CNAME record to %s, or A/AAAA records for %s if it is a bare domain (example.com), which cannot have a CNAME", c, joinAddrs(ips))
	case c != "":
		return "add a CNAME record to " + c
	case len(ips) > 0:
		return "add A/AAAA records for " + joinAddrs(ips)
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
