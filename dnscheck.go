package rampart

import "net/netip"

// DNSTarget is what a custom domain should point at.
type DNSTarget struct {
	// CNAME is the service's platform hostname, e.g. blog.apps.example.com,
	// the target the dashboard recommends.
	CNAME string
	// IPs are the node's public addresses, the A and AAAA targets.
	IPs []netip.Addr
	// Token, when set, is the value the TXT record at
	// [ChallengeName](name) must hold for A/AAAA records to prove the name
	// belongs to the service; a CNAME to CNAME proves it alone. Empty: the
	// addresses alone prove it (a node with a single account).
	Token string
}

// DNSCheck is what the resolvers see for one name (internal/dnscheck asks
// them).
type DNSCheck struct {
	// PointsHere is true when at least one resolver answered and every
	// resolver that answered sees the name pointing here. Resolvers that did
	// not answer (timeouts, SERVFAIL) do not hold a name back, so that one
	// unreachable resolver cannot block issuance for ever; a resolver that
	// answers with an old record does. A resolver that answered only one
	// record type is judged on that type (see DNSAnswer.PointsHere).
	PointsHere bool `json:"points_here"`
	// Resolvers holds one entry per resolver, in the checker's order.
	Resolvers []DNSAnswer `json:"resolvers"`
	// Reason says why PointsHere is false, as a sentence a person can act
	// on; empty when it is true.
	Reason string `json:"reason,omitempty"`
}

// DNSAnswer is what one resolver sees.
type DNSAnswer struct {
	// Resolver is the resolver's address, "ip:port".
	Resolver string `json:"resolver"`
	// CNAME is the chain of CNAME targets from the name on, in order,
	// without trailing dots.
	CNAME []string `json:"cname,omitempty"`
	// A and AAAA are the addresses at the end of the chain.
	A    []netip.Addr `json:"a,omitempty"`
	AAAA []netip.Addr `json:"aaaa,omitempty"`
	// TXT are the values of the TXT records at [ChallengeName](name), each
	// with its strings joined; asked only when DNSTarget.Token is set.
	TXT []string `json:"txt,omitempty"`
	// PointsHere: the chain reaches DNSTarget.CNAME, or there is at least
	// one address, every address is one of DNSTarget.IPs, and, when
	// DNSTarget.Token is set, one of TXT is that token. A name with
	// one address here and another elsewhere does not point here: browsers
	// and the CA's validators would reach the other server part of the time
	// (validators prefer IPv6, so a stale AAAA record alone breaks HTTP-01).
	//
	// Each record type is judged on its own answer. When one type's query
	// failed (AErr or AAAAErr) and the other's answered, PointsHere is
	// judged on the type that answered: a resolver that cannot say what the
	// AAAA records are (a forwarder that does not recurse for them, say)
	// must not block a name whose A record points here for ever. What that
	// resolver could not see, a stale AAAA elsewhere, is still caught by
	// any other resolver that answers AAAA, and by the CA, which validates
	// from its own resolvers; the failure is in AAAAErr for people to see.
	PointsHere bool `json:"points_here"`
	// Err says why the resolver gave no usable answer to either type:
	// "timeout", "SERVFAIL", "connection refused"… Empty when it answered
	// one of them, even if the answer is that the name does not exist.
	Err string `json:"error,omitempty"`
	// AErr and AAAAErr say why the query for that one type gave no usable
	// answer ("does not resolve recursively…", "timeout") while the other
	// type's answered; when neither answered, Err alone says why.
	AErr    string `json:"a_error,omitempty"`
	AAAAErr string `json:"aaaa_error,omitempty"`
	// TXTErr says why the TXT query gave no usable answer. Unlike a missing
	// AAAA answer it holds the name back when the addresses need the TXT
	// record: the record is the proof, not a detail.
	TXTErr string `json:"txt_error,omitempty"`
}

// DomainCheck is the answer to a DNS check: the domain as stored and what
// each configured resolver sees now.
type DomainCheck struct {
	Domain *Domain `json:"domain"`
	// PointsHere: every resolver that answered sees records that prove the
	// name is this service's (see DNSAnswer.PointsHere).
	PointsHere bool `json:"points_here"`
	// Reason says what to change in DNS when PointsHere is false, naming
	// the record to add.
	Reason    string          `json:"reason,omitempty"`
	Resolvers []ResolverCheck `json:"resolvers"`
}

// ResolverCheck is what one resolver sees, as the API shows it.
type ResolverCheck struct {
	Resolver   string   `json:"resolver"`
	CNAME      []string `json:"cname,omitempty"`
	A          []string `json:"a,omitempty"`
	AAAA       []string `json:"aaaa,omitempty"`
	TXT        []string `json:"txt,omitempty"`
	PointsHere bool     `json:"points_here"`
	// Error says why the resolver gave no usable answer to either type
	// (timeout, SERVFAIL…).
	Error string `json:"error,omitempty"`
	// AError and AAAAError say why that one type's query gave no usable
	// answer; the other type's answer is judged alone then.
	AError    string `json:"a_error,omitempty"`
	AAAAError string `json:"aaaa_error,omitempty"`
	TXTError  string `json:"txt_error,omitempty"`
}

// NewDomainCheck puts a DNS check of d in the API's form.
func NewDomainCheck(d *Domain, res DNSCheck) DomainCheck {
	out := DomainCheck{Domain: d, PointsHere: res.PointsHere, Reason: res.Reason, Resolvers: []ResolverCheck{}}
	for _, r := range res.Resolvers {
		rc := ResolverCheck{Resolver: r.Resolver, CNAME: r.CNAME, TXT: r.TXT, PointsHere: r.PointsHere, Error: r.Err, AError: r.AErr, AAAAError: r.AAAAErr, TXTError: r.TXTErr}
		for _, a := range r.A {
			rc.A = append(rc.A, a.String())
		}
		for _, a := range r.AAAA {
			rc.AAAA = append(rc.AAAA, a.String())
		}
		out.Resolvers = append(out.Resolvers, rc)
	}
	return out
}
