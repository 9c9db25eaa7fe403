package rampart

import (
	"net/netip"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// TLSMode says how the edge gets a certificate for a custom domain.
type TLSMode string

const (
	// TLSManaged: rampart asks an ACME CA for a certificate as soon as DNS
	// points here and renews it. The default: the app layer fills it in
	// when a request leaves the mode out.
	TLSManaged TLSMode = "managed"
	// TLSCustom: the owner uploads a certificate and key (e.g. a Cloudflare
	// origin certificate); rampart serves it and never asks a CA.
	TLSCustom TLSMode = "custom"
	// TLSOff: rampart never asks a CA for this name, e.g. because TLS ends
	// at a proxy in front of it.
	TLSOff TLSMode = "off"
)

// ValidateTLSMode checks that m is one of the three modes. The empty mode is
// refused rather than read as managed so that a store never holds two
// spellings of the same setting; callers that accept an omitted mode set
// [TLSManaged] before validating.
func ValidateTLSMode(m TLSMode) error {
	switch m {
	case TLSManaged, TLSCustom, TLSOff:
		return nil
	case "":
		return Errorf(EINVALID, "TLS mode is empty: use %q (the default), %q or %q", TLSManaged, TLSCustom, TLSOff)
	}
	return Errorf(EINVALID, "TLS mode %q is unknown: use %q, %q or %q", m, TLSManaged, TLSCustom, TLSOff)
}

// DomainState is where a custom domain is on its way to serving HTTPS. It is
// written by the reconcilers, never by a person.
type DomainState string

const (
	// DomainWaitingForDNS: DNS does not prove yet that the name belongs to
	// this service (see [Domain.Verified]); Reason says what the resolvers
	// see and which record to add. Until then the name is neither routed
	// nor certified.
	DomainWaitingForDNS DomainState = "waiting_for_dns"
	// DomainIssuing: the name is proven and a certificate has been
	// requested.
	DomainIssuing DomainState = "issuing"
	// DomainActive: the name is served over HTTPS (or over HTTP with
	// [TLSOff]).
	DomainActive DomainState = "active"
	// DomainError: something needs a person; Reason says what.
	DomainError DomainState = "error"
)

// Domain is a name of the owner's own (as opposed to the platform hostname)
// on which a service is reachable. Its Name is on the service's allow list:
// the edge routes it and the CA is asked for it, and for no other name.
type Domain struct {
	ID        int64 `json:"id"`
	ServiceID int64 `json:"service_id"`
	// Service is the service's name, filled in by the store on reads.
	Service string `json:"service"`
	// Name is the form used on the wire and in certificates: ASCII
	// (punycode for internationalized names), lower case, no trailing dot.
	// It is what [NormalizeDomain] returns.
	Name string `json:"name"`
	// Display is the Unicode form for people when Name is internationalized
	// (see [DisplayDomain]), empty otherwise.
	Display string  `json:"display,omitempty"`
	TLSMode TLSMode `json:"tls_mode"`
	// DomainStatus is the observed state, written only by the domains
	// reconciler (its fields appear at the top level in JSON); everything
	// else is desired state or bookkeeping.
	DomainStatus
	// Challenge is the TXT record that proves, together with A/AAAA
	// records to the node, that the name belongs to this service. The
	// store fills it in on reads; its value is the service's token, shown
	// only to those who may see the service.
	Challenge DomainChallenge `json:"challenge"`
	CreatedAt time.Time       `json:"created_at"`
	UpdatedAt time.Time       `json:"updated_at"`
	// CertPEM and KeyPEM are the uploaded certificate chain and private key
	// of a [TLSCustom] domain, empty otherwise. They never leave the server
	// through the API (the key is a secret, and the chain is what the edge
	// serves anyway).
	CertPEM []byte `json:"-"`
	KeyPEM  []byte `json:"-"`
}

// DomainStatus is what the machine made of a domain: where it is on the way
// to a certificate, and why it is stuck when it is.
type DomainStatus struct {
	State DomainState `json:"state"`
	// Reason is why the domain is waiting or failed, as a sentence a person
	// can act on ("DNS points at 203.0.113.9, expected 198.51.100.7").
	Reason string `json:"reason,omitempty"`
	// VerifiedAt is when the domains reconciler first saw DNS prove that
	// the name belongs to this service (a CNAME to its platform hostname,
	// or A/AAAA records to the node with the service's TXT record); nil
	// until then. Only a proven name is routed and certified.
	//
	// Proven stays proven while the domain stays on the service: a later
	// check that fails (a DNS outage, a resolver that lags) does not
	// un-route a live site. Removing the domain ends the proof; whoever
	// adds the name next proves it anew, with their own token.
	VerifiedAt *time.Time `json:"verified_at,omitempty"`
}

// Verified reports whether DNS has proven that the name belongs to its
// service, which is what routing and certificates wait for.
func (s DomainStatus) Verified() bool { return s.VerifiedAt != nil }

// ChallengePrefix is the label in front of a custom domain under which its
// ownership TXT record lives ("_rampart-challenge.shop.example.com"). The
// leading underscore keeps it apart from host names (RFC 8552).
const ChallengePrefix = "_rampart-challenge."

// ChallengeName is where the ownership TXT record of domain lives.
func ChallengeName(domain string) string { return ChallengePrefix + domain }

// DomainChallenge is the TXT record that proves a name belongs to a
// service when the name points at the node with A/AAAA records (a bare
// domain, which cannot have a CNAME). On a node with a single account an
// A/AAAA record alone proves it, since there is nobody to take the name
// from; with two or more accounts an address record says nothing about
// which tenant the name belongs to, so the TXT record is needed too.
type DomainChallenge struct {
	// Name is the record's name: [ChallengeName] of the domain.
	Name string `json:"name"`
	// Value is the service's token: 32 hex digits, random, the same for
	// every domain of the service while it exists, and different for a
	// service deleted and created again under the same name.
	Value string `json:"value"`
}

// Validate checks every field a caller can set. Name must already be
// normalized: the app layer runs [NormalizeDomain] on what a person typed
// and stores its result, so a name that is not its own normal form here is
// a bug upstream, not a typo.
func (d *Domain) Validate(platformDomain string) error {
	name, err := NormalizeDomain(d.Name, platformDomain)
	if err != nil {
		return err
	}
	if name != d.Name {
		return Errorf(EINVALID, "domain name %q is not in normal form: use %q", d.Name, name)
	}
	return ValidateTLSMode(d.TLSMode)
}

// Limits from RFC 1035 §2.3.4, counted on the ASCII form without the
// trailing dot.
const (
	MaxDomainLength = 253
	MaxLabelLength  = 63
)

// maxDomainInput bounds what NormalizeDomain looks at before conversion. A
// Unicode name takes up to 4 bytes per character and may shrink under
// mapping (ignored characters vanish), so the limit on the input is looser
// than the one on the result; it only keeps the idna work bounded.
const maxDomainInput = 1024

// NormalizeDomain turns what a person typed into the name the edge routes,
// the CA certifies and the store keeps, or says which rule the input breaks.
//
// It trims spaces, maps the input with the UTS #46 "lookup" profile
// ([idna.Lookup]) and strips one trailing dot. The lookup profile is the one
// browsers use to turn what is typed in an address bar into a DNS query, so
// a name that works in a browser is accepted in the same spelling: upper
// case is folded, full-width letters and the ideographic full stop "。" are
// mapped, and Unicode labels become punycode ("bücher.example" →
// "xn--bcher-kva.example"). The stricter registration profile would refuse
// such input instead of mapping it, and the raw punycode profile would
// accept labels that no browser can reach. Its processing is
// non-transitional (IDNA2008): "faß.de" stays distinct from "fass.de".
//
// The result must then be a host name a public CA will certify: at most 253
// characters, labels of 1–63 letters, digits and hyphens that neither start
// nor end with a hyphen, hyphens in the 3rd and 4th position only in
// punycode ("xn--") labels that decode cleanly, no symbols or emoji (IDNA2008
// disallows them, although the UTS #46 tables still map them), at least two
// labels and a top-level domain that is not a number.
//
// Input that is something else is refused with the fix in the message:
// URLs, host:port, IP addresses, wildcards (they need a DNS-01 challenge,
// for which no provider is configured) and names at or under platformDomain,
// which the platform already serves. URLs are refused, not trimmed down:
// the name goes on the list of names the CA is asked to certify, so rampart
// does not guess which part was meant; the error quotes the name to paste.
// An empty platformDomain skips that check.
//
// Whether another service already uses the name is the store's question.
// Special-use names (.test, .localhost, .internal) are not refused here:
// they are useful with a private CA, and a public CA's refusal shows up in
// the domain's Reason.
//
// NormalizeDomain is idempotent: NormalizeDomain(name) == name for any name
// it returns.
func NormalizeDomain(input, platformDomain string) (name string, err error) {
	s := strings.TrimSpace(input)
	if s == "" {
		return "", Errorf(EINVALID, "domain name is required, e.g. shop.example.com")
	}
	if len(s) > maxDomainInput {
		return "", Errorf(EINVALID, "domain name is %d characters long: a domain name has at most %d", len(s), MaxDomainLength)
	}
	if !utf8.ValidString(s) {
		return "", Errorf(EINVALID, "domain name %q is not valid UTF-8: type it again", s)
	}
	if err := checkShape(s); err != nil {
		return "", err
	}
	if !isASCII(s) {
		ascii, err := idna.Lookup.ToASCII(s)
		if err != nil {
			return "", explainIDNAError(s)
		}
		s = ascii
		// Mapping can produce an address from full-width digits.
		if err := checkIP(s); err != nil {
			return "", err
		}
	}
	s = strings.ToLower(s)
	s = strings.TrimSuffix(s, ".")
	if err := checkLDH(s); err != nil {
		return "", err
	}
	if err := checkIDN(s); err != nil {
		return "", err
	}
	if err := checkPlatform(s, platformDomain); err != nil {
		return "", err
	}
	return s, nil
}

// DisplayDomain returns the Unicode form of an internationalized name for
// people to read ("xn--bcher-kva.example" → "bücher.example"), and "" when
// name has no punycode labels or does not decode. Show it next to the ASCII
// name rather than instead of it: names that mix look-alike scripts are
// exactly the ones browsers display as punycode.
func DisplayDomain(name string) string {
	if !strings.HasPrefix(name, "xn--") && !strings.Contains(name, ".xn--") {
		return ""
	}
	u, err := idna.Display.ToUnicode(name)
	if err != nil || u == name {
		return ""
	}
	return u
}

// checkShape refuses input that is recognizably something other than a
// domain name (a URL, an address, a wildcard, host:port), before the IDNA
// mapping turns it into an unhelpful "disallowed rune" error.
func checkShape(s string) error {
	if i := strings.Index(s, "://"); i >= 0 {
		// Without the scheme the rest is shorter and has no "://", so the
		// recursion through suggestion ends.
		host := s[i+3:]
		if u, err := url.Parse(s); err == nil && u.Hostname() != "" {
			host = u.Hostname()
		}
		return Errorf(EINVALID, "%q is a URL: give only the domain name, e.g. %q", s, suggestion(host))
	}
	if i := strings.IndexAny(s, "/?#"); i >= 0 {
		return Errorf(EINVALID, "%q has a path: give only the domain name, e.g. %q", s, suggestion(s[:i]))
	}
	if i := strings.LastIndexByte(s, '@'); i >= 0 {
		return Errorf(EINVALID, "%q looks like an email address: give only the domain name, e.g. %q", s, suggestion(s[i+1:]))
	}
	if err := checkIP(s); err != nil {
		return err
	}
	if s == "*" || strings.HasPrefix(s, "*.") {
		return Errorf(EINVALID, "%q is a wildcard: wildcards need a DNS-01 provider, which is not configured; add each name separately", s)
	}
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		if port := s[i+1:]; port != "" && allDigits(port) {
			return Errorf(EINVALID, "%q has a port: custom domains are served on ports 80 and 443; give only the name, e.g. %q", s, suggestion(s[:i]))
		}
	}
	return nil
}

// suggestion makes the name to quote back in an error: s normalized when
// that works, a generic example otherwise (quoting an IP address or a name
// that breaks another rule back as the thing to type would mislead).
func suggestion(s string) string {
	if n, err := NormalizeDomain(s, ""); err == nil {
		return n
	}
	return "shop.example.com"
}

// checkIP refuses IP literals in every spelling a person might paste: bare,
// bracketed, with a port, with a trailing dot.
func checkIP(s string) error {
	t := strings.TrimSuffix(s, ".")
	isIP := false
	if _, err := netip.ParseAddr(t); err == nil {
		isIP = true
	} else if _, err := netip.ParseAddrPort(t); err == nil {
		isIP = true
	} else if len(t) > 2 && t[0] == '[' && t[len(t)-1] == ']' {
		_, err := netip.ParseAddr(t[1 : len(t)-1])
		isIP = err == nil
	}
	if isIP {
		return Errorf(EINVALID, "%q is an IP address, not a domain name: point a name (e.g. shop.example.com) at it in DNS and add that name", s)
	}
	return nil
}

// checkLDH checks an ASCII, lower-case name without trailing dot against the
// host name rules (RFC 1035, RFC 1123, RFC 5891 §4.2.3.1).
func checkLDH(s string) error {
	if s == "" {
		return Errorf(EINVALID, "domain name is required, e.g. shop.example.com")
	}
	if len(s) > MaxDomainLength {
		return Errorf(EINVALID, "domain name is %d characters long: a domain name has at most %d", len(s), MaxDomainLength)
	}
	labels := 0
	var label string
	for rest, more := s, true; more; {
		label, rest, more = strings.Cut(rest, ".")
		labels++
		if err := checkLabel(s, label); err != nil {
			return err
		}
	}
	if labels < 2 {
		return Errorf(EINVALID, "%q is a single label: give a full domain name, e.g. %s.example.com", s, s)
	}
	if numericTLD(label) {
		return Errorf(EINVALID, "%q ends in the number %q: a top-level domain is never numeric (browsers would read the name as an IP address)", s, label)
	}
	return nil
}

func checkLabel(name, label string) error {
	switch {
	case label == "":
		return Errorf(EINVALID, "%q has an empty label: remove the extra dot", name)
	case len(label) > MaxLabelLength:
		return Errorf(EINVALID, "label %q is %d characters long: a label (the part between dots) has at most %d", label, len(label), MaxLabelLength)
	}
	for i := 0; i < len(label); i++ {
		if err := ldhChar(name, label, label[i]); err != nil {
			return err
		}
	}
	switch {
	case label[0] == '-':
		return Errorf(EINVALID, "label %q starts with a hyphen: labels must start and end with a letter or digit", label)
	case label[len(label)-1] == '-':
		return Errorf(EINVALID, "label %q ends with a hyphen: labels must start and end with a letter or digit", label)
	case len(label) >= 4 && label[2:4] == "--" && !strings.HasPrefix(label, "xn--"):
		return Errorf(EINVALID, "label %q has hyphens in the 3rd and 4th position: that is reserved for internationalized (xn--) labels, and CAs refuse it", label)
	}
	return nil
}

// ldhChar says why the ASCII character c may not appear in label, or returns
// nil for letters, digits and hyphens.
func ldhChar(name, label string, c byte) error {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-':
		return nil
	case c == '_':
		return Errorf(EINVALID, "label %q has an underscore: host names allow only letters, digits and hyphens (underscores belong to service records, which have no certificates)", label)
	case c == '*':
		return Errorf(EINVALID, "label %q has a '*': a wildcard is only allowed as the whole first label, and wildcards need a DNS-01 provider, which is not configured; add each name separately", label)
	case c == ':':
		return Errorf(EINVALID, "%q has a ':': give only the domain name, without a port", name)
	}
	return Errorf(EINVALID, "label %q has the character %q: use only letters, digits and hyphens", label, string(rune(c)))
}

// numericTLD reports whether the last label would make a browser (WHATWG
// URL "ends in a number") parse the host as an IPv4 address: all decimal
// digits, or 0x followed by hex digits.
func numericTLD(label string) bool {
	if allDigits(label) {
		return true
	}
	if len(label) >= 2 && label[0] == '0' && label[1] == 'x' {
		for i := 2; i < len(label); i++ {
			c := label[i]
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
				return false
			}
		}
		return true
	}
	return false
}

// checkIDN validates the punycode labels of an LDH name: they must decode,
// re-encode to themselves (so that the name has exactly one spelling, and
// NormalizeDomain is idempotent) and hold no symbols.
func checkIDN(s string) error {
	if !strings.HasPrefix(s, "xn--") && !strings.Contains(s, ".xn--") {
		return nil
	}
	for label := range strings.SplitSeq(s, ".") {
		if !strings.HasPrefix(label, "xn--") {
			continue
		}
		u, err := idna.Lookup.ToUnicode(label)
		if err == nil {
			var back string
			back, err = idna.Lookup.ToASCII(u)
			if err == nil && back != label {
				return Errorf(EINVALID, "label %q is not the standard punycode of %q: use %q", label, u, back)
			}
		}
		if err != nil {
			return Errorf(EINVALID, "label %q is not valid punycode: type the name in its Unicode form or copy its xn-- form again", label)
		}
		if err := checkSymbols(label, u); err != nil {
			return err
		}
	}
	return nil
}

// checkSymbols refuses symbols (emoji, ❤, ⌘…), which IDNA2008 (RFC 5892)
// disallows and CAs therefore refuse to certify, although the UTS #46 tables
// that the idna package implements still map them. The two Arabic signs that
// RFC 5892 §2.6 allows as exceptions pass.
func checkSymbols(label, u string) error {
	for _, r := range u {
		if unicode.IsSymbol(r) && r != '\u06FD' && r != '\u06FE' {
			return Errorf(EINVALID, "label %q (%s) has the symbol %q (%U): emoji and symbols are not allowed in domain names under IDNA2008, and CAs refuse them", u, label, string(r), r)
		}
	}
	return nil
}

// explainIDNAError finds the label and, where possible, the character that
// made the IDNA mapping of s fail. The idna package's own errors are terse
// ("idna: disallowed rune U+005F"), so each label is tried alone.
func explainIDNAError(s string) error {
	for label := range strings.FieldsFuncSeq(s, isDot) {
		if _, err := idna.Lookup.ToASCII(label); err == nil {
			continue
		}
		for _, r := range label {
			if r < utf8.RuneSelf {
				// ASCII gets the plain LDH messages.
				if err := ldhChar(s, label, byte(r)); err != nil {
					return err
				}
				continue
			}
			if unicode.IsSymbol(r) {
				return Errorf(EINVALID, "label %q has the symbol %q (%U): emoji and symbols are not allowed in domain names under IDNA2008, and CAs refuse them", label, string(r), r)
			}
			// A combining mark is only invalid at the start of a label, and
			// right-to-left letters only next to left-to-right ones, so
			// each character is tried alone and after a letter.
			_, alone := idna.Lookup.ToASCII(string(r))
			_, after := idna.Lookup.ToASCII("a" + string(r))
			if alone != nil && after != nil {
				return Errorf(EINVALID, "label %q has the character %q (%U), which is not allowed in domain names: use only letters, digits and hyphens", label, string(r), r)
			}
		}
		if strings.HasPrefix(label, "-") || strings.HasSuffix(label, "-") {
			return Errorf(EINVALID, "label %q starts or ends with a hyphen: labels must start and end with a letter or digit", label)
		}
		return Errorf(EINVALID, "label %q is not a valid internationalized label (IDNA2008): it mixes left-to-right and right-to-left text, or places a joiner, combining mark or hyphen where it is not allowed; check its spelling", label)
	}
	return Errorf(EINVALID, "%q is not a valid internationalized domain name: check its spelling", s)
}

// isDot reports the characters UTS #46 maps to a label separator.
func isDot(r rune) bool {
	return r == '.' || r == '\u3002' || r == '\uFF0E' || r == '\uFF61'
}

func checkPlatform(s, platformDomain string) error {
	p := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(platformDomain)), ".")
	if p == "" {
		return nil
	}
	if s == p || strings.HasSuffix(s, "."+p) {
		return Errorf(EINVALID, "%q is under the platform domain: names under %s are already served as <service>.%s; add a domain of your own", s, p, p)
	}
	return nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
