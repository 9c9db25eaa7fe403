package rampart

// DomainInput adds a custom domain to a service's allow list: the body of
// POST /api/v1/services/{name}/domains, which carries Service in its path.
type DomainInput struct {
	Service string `json:"-"`
	// Name is the domain as typed: Unicode names, upper case and a
	// trailing dot are accepted and normalized.
	Name string `json:"name"`
	// TLSMode is managed (the default), custom or off.
	TLSMode TLSMode `json:"tls_mode,omitempty"`
	// CertPEM and KeyPEM are the certificate chain (leaf first) and the
	// private key, PEM-encoded, for TLS mode custom.
	CertPEM string `json:"cert_pem,omitempty"`
	KeyPEM  string `json:"key_pem,omitempty"`
}

// DomainUpdate changes a domain's TLS mode, or replaces the uploaded
// certificate of a custom one: the body of PATCH
// /api/v1/services/{name}/domains/{domain}, which carries Service and Name
// in its path. With a certificate and no mode, the mode is custom.
type DomainUpdate struct {
	Service string  `json:"-"`
	Name    string  `json:"-"`
	TLSMode TLSMode `json:"tls_mode,omitempty"`
	CertPEM string  `json:"cert_pem,omitempty"`
	KeyPEM  string  `json:"key_pem,omitempty"`
}

// DomainRef names one domain of one service. Name may be typed in any form
// NormalizeDomain accepts.
type DomainRef struct {
	Service string
	Name    string
}

// DomainList is the answer to GET /services/{name}/domains.
type DomainList struct {
	Domains []*Domain `json:"domains"`
}
