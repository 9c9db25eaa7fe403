package api

import (
	"net/http"
	"net/url"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/app"
	"github.com/rampart-dev/rampart/internal/dnscheck"
)

// DomainInput adds a custom domain to a service's allow list.
type DomainInput struct {
	// Name is the domain as typed: Unicode names, upper case and a
	// trailing dot are accepted and normalized.
	Name string `json:"name"`
	// TLSMode is managed (the default), custom or off.
	TLSMode rampart.TLSMode `json:"tls_mode,omitempty"`
	// CertPEM and KeyPEM are the certificate chain (leaf first) and the
	// private key, PEM-encoded, for TLS mode custom.
	CertPEM string `json:"cert_pem,omitempty"`
	KeyPEM  string `json:"key_pem,omitempty"`
}

// DomainUpdate changes a domain's TLS mode, or replaces the uploaded
// certificate of a custom one. With a certificate and no mode, the mode is
// custom.
type DomainUpdate struct {
	TLSMode rampart.TLSMode `json:"tls_mode,omitempty"`
	CertPEM string          `json:"cert_pem,omitempty"`
	KeyPEM  string          `json:"key_pem,omitempty"`
}

// DomainList is the answer to GET /services/{name}/domains.
type DomainList struct {
	Domains []*rampart.Domain `json:"domains"`
}

// DomainCheck is the answer to a DNS check: the domain as stored and what
// each configured resolver sees now.
type DomainCheck struct {
	Domain *rampart.Domain `json:"domain"`
	// PointsHere: every resolver that answered sees the name pointing at
	// this service.
	PointsHere bool `json:"points_here"`
	// Reason says what to change in DNS when PointsHere is false.
	Reason    string          `json:"reason,omitempty"`
	Resolvers []ResolverCheck `json:"resolvers"`
}

// ResolverCheck is what one resolver sees.
type ResolverCheck struct {
	Resolver   string   `json:"resolver"`
	CNAME      []string `json:"cname,omitempty"`
	A          []string `json:"a,omitempty"`
	AAAA       []string `json:"aaaa,omitempty"`
	PointsHere bool     `json:"points_here"`
	// Error says why the resolver gave no usable answer (timeout,
	// SERVFAIL…).
	Error string `json:"error,omitempty"`
}

// NewDomainCheck converts a dnscheck result for the wire.
func NewDomainCheck(d *rampart.Domain, res dnscheck.Result) DomainCheck {
	out := DomainCheck{Domain: d, PointsHere: res.PointsHere, Reason: res.Reason, Resolvers: []ResolverCheck{}}
	for _, r := range res.Resolvers {
		rc := ResolverCheck{Resolver: r.Resolver, CNAME: r.CNAME, PointsHere: r.PointsHere, Error: r.Err}
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

func (s *server) listDomains(w http.ResponseWriter, r *http.Request, actor app.Actor) error {
	list, err := s.app.ListDomains(r.Context(), actor, r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, DomainList{Domains: list})
	return nil
}

func (s *server) addDomain(w http.ResponseWriter, r *http.Request, actor app.Actor) error {
	// As with PATCH: a missing service is the more useful error.
	if _, err := s.app.GetService(r.Context(), actor, r.PathValue("name")); err != nil {
		return err
	}
	var in DomainInput
	if err := decodeBody(w, r, &in); err != nil {
		return err
	}
	d, err := s.app.AddDomain(r.Context(), actor, r.PathValue("name"), in.Name, in.TLSMode, []byte(in.CertPEM), []byte(in.KeyPEM))
	if err != nil {
		return err
	}
	w.Header().Set("Location", servicePath(d.Service)+"/domains/"+url.PathEscape(d.Name))
	writeJSON(w, http.StatusCreated, d)
	return nil
}

func (s *server) updateDomain(w http.ResponseWriter, r *http.Request, actor app.Actor) error {
	if _, err := s.app.GetDomain(r.Context(), actor, r.PathValue("name"), r.PathValue("domain")); err != nil {
		return err
	}
	var in DomainUpdate
	if err := decodeBody(w, r, &in); err != nil {
		return err
	}
	if in.TLSMode == "" {
		if in.CertPEM == "" && in.KeyPEM == "" {
			return rampart.FieldError("tls_mode", rampart.Errorf(rampart.EINVALID, "nothing to change: give tls_mode (managed, custom or off), or cert_pem and key_pem to replace an uploaded certificate"))
		}
		in.TLSMode = rampart.TLSCustom
	}
	d, err := s.app.UpdateDomain(r.Context(), actor, r.PathValue("name"), r.PathValue("domain"), in.TLSMode, []byte(in.CertPEM), []byte(in.KeyPEM))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, d)
	return nil
}

func (s *server) removeDomain(w http.ResponseWriter, r *http.Request, actor app.Actor) error {
	if err := s.app.RemoveDomain(r.Context(), actor, r.PathValue("name"), r.PathValue("domain")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *server) checkDomain(w http.ResponseWriter, r *http.Request, actor app.Actor) error {
	d, res, err := s.app.CheckDomain(r.Context(), actor, r.PathValue("name"), r.PathValue("domain"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, NewDomainCheck(d, res))
	return nil
}
