package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/rampart-dev/rampart"
)

// ListDomains returns the custom domains of the named service.
func (c *Client) ListDomains(ctx context.Context, service string) ([]*rampart.Domain, error) {
	p, err := servicePath(service)
	if err != nil {
		return nil, err
	}
	var out rampart.DomainList
	if err := c.do(ctx, http.MethodGet, p+"/domains", nil, &out); err != nil {
		return nil, err
	}
	return out.Domains, nil
}

// GetDomain returns one domain of the named service, with the TXT record
// that proves it.
func (c *Client) GetDomain(ctx context.Context, service, domain string) (*rampart.Domain, error) {
	p, err := domainPath(service, domain)
	if err != nil {
		return nil, err
	}
	var d rampart.Domain
	if err := c.do(ctx, http.MethodGet, p, nil, &d); err != nil {
		return nil, err
	}
	return &d, nil
}

// AddDomain adds a domain to the named service's allow list.
func (c *Client) AddDomain(ctx context.Context, service string, in rampart.DomainInput) (*rampart.Domain, error) {
	p, err := servicePath(service)
	if err != nil {
		return nil, err
	}
	var d rampart.Domain
	if err := c.do(ctx, http.MethodPost, p+"/domains", in, &d); err != nil {
		return nil, err
	}
	return &d, nil
}

// RemoveDomain takes a domain off the named service's list.
func (c *Client) RemoveDomain(ctx context.Context, service, domain string) error {
	p, err := domainPath(service, domain)
	if err != nil {
		return err
	}
	return c.do(ctx, http.MethodDelete, p, nil, nil)
}

// CheckDomain runs the DNS check of a domain now.
func (c *Client) CheckDomain(ctx context.Context, service, domain string) (*rampart.DomainCheck, error) {
	p, err := domainPath(service, domain)
	if err != nil {
		return nil, err
	}
	var out rampart.DomainCheck
	if err := c.do(ctx, http.MethodPost, p+"/check", nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

func domainPath(service, domain string) (string, error) {
	p, err := servicePath(service)
	if err != nil {
		return "", err
	}
	switch domain {
	case "":
		return "", rampart.Errorf(rampart.EINVALID, "domain name is required, e.g. shop.example.com")
	case ".", "..":
		return "", rampart.Errorf(rampart.ENOTFOUND, "domain %q is not on the list of %s", domain, service)
	}
	return p + "/domains/" + url.PathEscape(domain), nil
}

// UpdateDomain changes a domain's TLS mode or replaces the uploaded
// certificate of a custom one.
func (c *Client) UpdateDomain(ctx context.Context, service, domain string, up rampart.DomainUpdate) (*rampart.Domain, error) {
	p, err := domainPath(service, domain)
	if err != nil {
		return nil, err
	}
	var d rampart.Domain
	if err := c.do(ctx, http.MethodPatch, p, up, &d); err != nil {
		return nil, err
	}
	return &d, nil
}

// ResetSSL moves certificate storage aside and has certificates obtained
// anew: for one domain, or (domain "", admins only) for everything.
func (c *Client) ResetSSL(ctx context.Context, domain string) (*rampart.SSLReset, error) {
	var out rampart.SSLReset
	if err := c.do(ctx, http.MethodPost, "ssl/reset", rampart.SSLResetInput{Domain: domain}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
