// Package dnscheck tells whether a custom domain points at this server, the
// way a DNS propagation checker does: it asks several recursive resolvers
// directly, each on its own, and reports what every one of them sees.
//
// Asking resolvers directly, instead of the system's stub resolver, matters
// twice. The system caches, so it would keep answering with the record the
// owner just replaced; and a certificate authority validates from its own
// resolvers, in several places, so a name is only ready for issuance when
// resolvers elsewhere agree too. A failed validation costs a retry against
// the CA's rate limits, so [Result.PointsHere] waits until every resolver
// that answered agrees.
//
// Each resolver's A and AAAA answers are judged on their own: a forwarder
// that answers A but gives an empty non-recursive answer for AAAA is still
// a resolver that answered, judged on its A records, with the AAAA failure
// in its result (see [ResolverResult]'s PointsHere for why that is safe).
//
// Pointing here is also what proves that a name belongs to a service (see
// agent.Domains): a CNAME chain that reaches the service's platform hostname
// proves it alone, while A/AAAA records to the node prove it alone only
// when [Target.Token] is empty. With a token (a node shared by several
// accounts) each resolver is also asked for the TXT record
// _rampart-challenge.<name>, and the addresses count only when one of its
// values is the token: an address says nothing about which tenant a name
// belongs to, the token does, since only the name's owner can publish it.
//
// The package knows nothing about the store: the caller passes the name, the
// [Target] and the resolvers, and shows the [Result] (Reason is a sentence
// for the dashboard) or acts on PointsHere.
package dnscheck

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/rampart-dev/rampart"
)

// DefaultTimeout bounds each resolver's lookups when Checker.Timeout is zero.
const DefaultTimeout = 5 * time.Second

// maxCNAMEChain bounds how many CNAME hops are followed. Resolvers give up
// at about the same depth, and a longer chain is almost always a loop.
const maxCNAMEChain = 8

// resolvConf is where the system's resolvers are read from; a variable so
// that tests can point it elsewhere.
var resolvConf = "/etc/resolv.conf"

// Target is what a custom domain should point at. The types of a check
// are the root package's, so that the service layer and the API can carry
// them without importing this package (and its DNS library).
type Target = rampart.DNSTarget

// Checker queries DNS resolvers. The zero value uses the system's resolvers
// and [DefaultTimeout].
type Checker struct {
	// Resolvers are recursive resolvers as "ip:port" (see [ParseResolver]
	// for the accepted forms). Empty: the nameservers in /etc/resolv.conf.
	Resolvers []string
	// Timeout bounds all the queries to one resolver for one Check. Zero:
	// [DefaultTimeout].
	Timeout time.Duration
}

// Result is what the resolvers see for one name.
type Result = rampart.DNSCheck

// ResolverResult is what one resolver sees.
type ResolverResult = rampart.DNSAnswer

// answer is a ResolverResult with what judging it needs besides.
type answer struct {
	ResolverResult
	nxdomain bool // the name (or the end of its chain) does not exist
}

// Check asks every resolver, in parallel, where name points and judges the
// answers against t. name is a normalized domain name (see
// rampart.NormalizeDomain); a trailing dot is allowed. Check returns when
// every resolver has answered or timed out, or ctx is done.
func (c *Checker) Check(ctx context.Context, name string, t Target) Result {
	name = strings.TrimSuffix(strings.ToLower(name), ".")
	if name == "" {
		return Result{Reason: "no domain name to check"}
	}
	servers := c.Resolvers
	if len(servers) == 0 {
		var err error
		servers, err = systemResolvers(resolvConf)
		if err != nil {
			return Result{Reason: err.Error()}
		}
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	answers := make([]answer, len(servers))
	var wg sync.WaitGroup
	for i, s := range servers {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			answers[i] = checkOne(ctx, s, name, t)
		})
	}
	wg.Wait()
	res := Result{Resolvers: make([]ResolverResult, len(answers))}
	for i, a := range answers {
		res.Resolvers[i] = a.ResolverResult
	}
	res.PointsHere, res.Reason = judge(name, t, answers)
	return res
}

// checkOne asks one resolver for A and AAAA at the same time, and for the
// challenge TXT record when t needs it; each address answer carries the
// CNAME chain, so no separate CNAME query is needed. Each type
// stands on its own: a resolver that answers one and fails the other is
// judged on the one it answered (see ResolverResult.PointsHere).
func checkOne(ctx context.Context, server, name string, t Target) answer {
	rr := answer{ResolverResult: ResolverResult{Resolver: server}}
	ap, err := ParseResolver(server)
	if err != nil {
		rr.Err = err.Error()
		return rr
	}
	addr := ap.String()
	rr.Resolver = addr
	var v4, v6 lookup
	var txt txtLookup
	var wg sync.WaitGroup
	wg.Go(func() { v4 = resolve(ctx, addr, name, dns.TypeA) })
	wg.Go(func() { v6 = resolve(ctx, addr, name, dns.TypeAAAA) })
	if t.Token != "" {
		wg.Go(func() { txt = resolveTXT(ctx, addr, rampart.ChallengeName(name)) })
	}
	wg.Wait()
	switch {
	case v4.err != nil && v6.err != nil:
		rr.Err = bothFailed(describeErr(v4.err), describeErr(v6.err))
		return rr
	case v4.err != nil:
		rr.AErr = describeErr(v4.err)
	case v6.err != nil:
		rr.AAAAErr = describeErr(v6.err)
	}
	// Only now: a resolver that answered neither address type has Err,
	// which says all there is to say about its TXT answer too.
	rr.TXT = txt.values
	if txt.err != nil {
		rr.TXTErr = describeErr(txt.err)
	}
	rr.nxdomain = true
	for _, l := range []lookup{v4, v6} {
		if l.err != nil {
			continue
		}
		if len(l.chain) > len(rr.CNAME) {
			rr.CNAME = l.chain
		}
		rr.nxdomain = rr.nxdomain && l.nxdomain
	}
	rr.A, rr.AAAA = v4.addrs, v6.addrs
	rr.PointsHere = pointsHere(rr.ResolverResult, t)
	return rr
}

// bothFailed is the Err of a resolver that answered neither type: one
// reason when both failed alike, as they usually do (a timeout, REFUSED).
func bothFailed(a, aaaa string) string {
	if a == aaaa {
		return a
	}
	return "A: " + a + "; AAAA: " + aaaa
}
