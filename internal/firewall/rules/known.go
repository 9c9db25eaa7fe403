package rules

// Known is a port the product knows by name, so that the dashboard can list
// it with what it is for, and a toggle, instead of a bare number.
type Known struct {
	Name    string // short label, as the dashboard shows it
	Proto   Proto
	Port    uint16
	Purpose string // one sentence: why someone would open it
	// Open says whether the default ruleset opens it; Mandatory ones can
	// be restricted to some sources but never removed, because the
	// operator reaches the machine through them.
	Open, Mandatory bool
}

// Rule is the known port opened to anyone, as the dashboard's toggle
// adds it.
func (k Known) Rule() Rule {
	return Rule{Proto: k.Proto, PortFrom: k.Port, PortTo: k.Port, Comment: k.Name}
}

// KnownPorts are the ports of the default ruleset (SSH, and the edge's
// HTTP and HTTPS) and the optional tool ports that hosting platforms of
// this kind use, closed until someone turns them on. Port 80 stays open to
// everyone while any domain renews its certificate over HTTP: that guard
// lives in the service layer, which knows the domains.
var KnownPorts = []Known{
	{Name: "SSH", Proto: TCP, Port: 22, Open: true, Mandatory: true,
		Purpose: "remote administration; cannot be removed, only restricted to some sources"},
	{Name: "HTTP", Proto: TCP, Port: 80, Open: true,
		Purpose: "the edge's plain HTTP: redirects to HTTPS and answers ACME HTTP-01 challenges, so certificates renew"},
	{Name: "HTTPS", Proto: TCP, Port: 443, Open: true,
		Purpose: "the edge's HTTPS: the services' traffic"},
	{Name: "Private network", Proto: UDP, Port: 4242,
		Purpose: "the overlay VPN that gives nodes a global private IP"},
	{Name: "Tool port 18344 (terminal)", Proto: TCP, Port: 18344,
		Purpose: "the optional web terminal"},
	{Name: "Tool port 18345 (code editor)", Proto: TCP, Port: 18345,
		Purpose: "the optional web code editor"},
	{Name: "Tool port 18346 (file explorer)", Proto: TCP, Port: 18346,
		Purpose: "the optional web file explorer"},
	{Name: "Tool port 18374 (open terminal)", Proto: TCP, Port: 18374,
		Purpose: "the optional second web terminal"},
	{Name: "Tool port 18445 (log tail)", Proto: TCP, Port: 18445,
		Purpose: "the optional live log viewer"},
}

// LookupKnown returns the known port of that protocol and number, if any.
func LookupKnown(proto Proto, port uint16) (Known, bool) {
	for _, k := range KnownPorts {
		if k.Proto == proto && k.Port == port {
			return k, true
		}
	}
	return Known{}, false
}

// Defaults is the ruleset of a new node: the known ports that are open by
// default (22, 80 and 443 over TCP), each to anyone.
func Defaults() []Rule {
	var rs []Rule
	for _, k := range KnownPorts {
		if k.Open {
			rs = append(rs, k.Rule())
		}
	}
	return rs
}
