// Package client is the Go client of rampart's REST API (internal/api), and
// what the CLI's subcommands are built on.
//
// Errors the server reports come back as *rampart.Error with the server's
// code and message unchanged, so the CLI can print the message verbatim and
// pick an exit status from the code. Failures to reach the server at all
// are ordinary errors whose text says what to check. The request and
// response types are the root package's, the same ones the server's API
// encodes and decodes, so client and server cannot disagree about a field;
// and the client imports nothing else of rampart, so that a program built
// on it does not carry the server (the edge, the certificate manager, the
// store) along.
package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/rampart-dev/rampart"
)

// DefaultTimeout bounds each request unless WithTimeout says otherwise. It
// is generous: the API's requests are small, so hitting it means the server
// is stuck or unreachable, not slow.
const DefaultTimeout = 30 * time.Second

// maxResponseBytes bounds what the client reads from a response, so that a
// wrong --server pointing at a large download does not fill memory.
const maxResponseBytes = 32 << 20

// Client talks to one rampart server with one token. It is safe for
// concurrent use.
type Client struct {
	server  string // base URL without a trailing slash, e.g. http://127.0.0.1:8443
	token   string
	hc      *http.Client
	timeout time.Duration
	ua      string
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sets the HTTP client, e.g. one that trusts a private CA.
// The default is a client of its own with Go's default transport.
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.hc = hc } }

// WithTimeout bounds each request (DefaultTimeout if not given); 0 leaves
// only the caller's context to end a request.
func WithTimeout(d time.Duration) Option { return func(c *Client) { c.timeout = d } }

// WithUserAgent sets the User-Agent header, so that a server's log shows
// which tool and version made a request.
func WithUserAgent(ua string) Option { return func(c *Client) { c.ua = ua } }

// New returns a client for the rampart server at server (a URL such as
// http://127.0.0.1:8443, optionally with a base path if a proxy serves
// rampart under one) using the API token token. An empty token is allowed
// (the server then answers that one is needed) so that the CLI can report
// the server's message.
func New(server, token string, opts ...Option) (*Client, error) {
	base, err := parseServer(server)
	if err != nil {
		return nil, err
	}
	// Tokens are pasted from terminals and files; a trailing newline is
	// not part of them.
	token = strings.TrimSpace(token)
	if strings.ContainsFunc(token, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return nil, errors.New("the API token contains spaces or control characters: copy it again, or create a new one with `rampart token create`")
	}
	c := &Client{server: base, token: token, timeout: DefaultTimeout, ua: "rampart-client"}
	for _, o := range opts {
		o(c)
	}
	if c.hc == nil {
		c.hc = &http.Client{}
	}
	return c, nil
}

// parseServer checks the server URL and returns it in canonical form.
func parseServer(server string) (string, error) {
	s := strings.TrimSpace(server)
	if s == "" {
		return "", errors.New("no rampart server given: pass --server, e.g. --server http://127.0.0.1:8443")
	}
	if !strings.Contains(s, "://") {
		return "", fmt.Errorf("server %q is not a URL: give the scheme too, e.g. http://%s", s, s)
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("server %q is not a URL (%v): give one like http://127.0.0.1:8443", s, err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return "", fmt.Errorf("server %q must start with http:// or https://", s)
	case u.Host == "" || u.Hostname() == "":
		return "", fmt.Errorf("server %q has no host: give one like http://127.0.0.1:8443", s)
	case u.User != nil:
		return "", fmt.Errorf("server %q contains credentials: pass the API token with --token or RAMPART_TOKEN instead", u.Redacted())
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return "", fmt.Errorf("server %q must not have a query or fragment: give only the scheme, host and port", s)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return "", fmt.Errorf("server %q: port %q is not between 1 and 65535", s, p)
		}
	}
	// People paste the API's own URL; the client adds /api/v1 itself.
	u.Path = strings.TrimSuffix(strings.TrimRight(u.Path, "/"), strings.TrimSuffix(rampart.APIPrefix, "/"))
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u.String(), nil
}

// Server is the base URL requests go to, as New normalized it.
func (c *Client) Server() string { return c.server }

// Me returns the account the token belongs to; `rampart login` uses it to
// check a token before saving it.
func (c *Client) Me(ctx context.Context) (*rampart.User, error) {
	var u rampart.User
	if err := c.do(ctx, http.MethodGet, "me", nil, &u); err != nil {
		return nil, err
	}
	return &u, nil
}

// CreateService creates a service and returns it as stored.
func (c *Client) CreateService(ctx context.Context, in rampart.ServiceInput) (*rampart.ServiceView, error) {
	var svc rampart.ServiceView
	if err := c.do(ctx, http.MethodPost, "services", in, &svc); err != nil {
		return nil, err
	}
	return &svc, nil
}

// ListServices returns the services the token's user may see, by name.
func (c *Client) ListServices(ctx context.Context) ([]rampart.ServiceView, error) {
	var list rampart.ServiceList
	if err := c.do(ctx, http.MethodGet, "services", nil, &list); err != nil {
		return nil, err
	}
	return list.Services, nil
}

// GetService returns the named service.
func (c *Client) GetService(ctx context.Context, name string) (*rampart.ServiceView, error) {
	p, err := servicePath(name)
	if err != nil {
		return nil, err
	}
	var svc rampart.ServiceView
	if err := c.do(ctx, http.MethodGet, p, nil, &svc); err != nil {
		return nil, err
	}
	return &svc, nil
}

// UpdateService changes the fields of up that are set and returns the
// service as stored.
func (c *Client) UpdateService(ctx context.Context, name string, up rampart.ServiceUpdate) (*rampart.ServiceView, error) {
	p, err := servicePath(name)
	if err != nil {
		return nil, err
	}
	var svc rampart.ServiceView
	if err := c.do(ctx, http.MethodPatch, p, up, &svc); err != nil {
		return nil, err
	}
	return &svc, nil
}

// DeleteService deletes the named service.
func (c *Client) DeleteService(ctx context.Context, name string) error {
	p, err := servicePath(name)
	if err != nil {
		return err
	}
	return c.do(ctx, http.MethodDelete, p, nil, nil)
}

// SetTerminationProtection turns the named service's termination
// protection on or off and returns the service as it now is.
func (c *Client) SetTerminationProtection(ctx context.Context, name string, on bool) (*rampart.ServiceView, error) {
	p, err := servicePath(name)
	if err != nil {
		return nil, err
	}
	var svc rampart.ServiceView
	if err := c.do(ctx, http.MethodPut, p+"/termination-protection", rampart.TerminationProtectionInput{Enabled: &on}, &svc); err != nil {
		return nil, err
	}
	return &svc, nil
}

// PurgeCache drops every cached response of the named service and says how
// many there were.
func (c *Client) PurgeCache(ctx context.Context, name string) (int, error) {
	p, err := servicePath(name)
	if err != nil {
		return 0, err
	}
	var out rampart.PurgeResult
	if err := c.do(ctx, http.MethodPost, p+"/cache/purge", nil, &out); err != nil {
		return 0, err
	}
	return out.Purged, nil
}

// AuditQuery narrows ListAudit. The zero value asks for the newest page.
type AuditQuery struct {
	Service string // only events on this service
	Before  int64  // only events older than this id: the previous page's NextBefore
	Limit   int    // page size; 0 for the server's default (rampart.DefaultAuditLimit)
}

// ListAudit returns one page of the audit log, newest first. To read older
// events, call again with Before set to the page's NextBefore until it is 0.
func (c *Client) ListAudit(ctx context.Context, q AuditQuery) (*rampart.AuditList, error) {
	v := url.Values{}
	if q.Service != "" {
		v.Set("service", q.Service)
	}
	if q.Before != 0 {
		v.Set("before", strconv.FormatInt(q.Before, 10))
	}
	if q.Limit != 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	p := "audit"
	if len(v) > 0 {
		p += "?" + v.Encode()
	}
	var list rampart.AuditList
	if err := c.do(ctx, http.MethodGet, p, nil, &list); err != nil {
		return nil, err
	}
	return &list, nil
}

// servicePath is the API path of a service. Names are escaped, so a name
// with a '/' cannot reach another endpoint; the dot segments, which URL
// resolution would remove, are refused here the way the server would.
func servicePath(name string) (string, error) {
	switch name {
	case "":
		return "", rampart.Errorf(rampart.EINVALID, "service name is required")
	case ".", "..":
		return "", rampart.Errorf(rampart.ENOTFOUND, "service %q not found", name)
	}
	return "services/" + url.PathEscape(name), nil
}

// do sends one request to the API path p (relative to /api/v1/) with in as
// its JSON body (if not nil) and decodes the answer into out (if not nil).
func (c *Client) do(ctx context.Context, method, p string, in, out any) error {
	reqCtx := ctx
	if c.timeout > 0 {
		var cancel context.CancelFunc
		reqCtx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encoding the request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(reqCtx, method, c.server+rampart.APIPrefix+p, body)
	if err != nil {
		return fmt.Errorf("building the request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.ua)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}

	resp, err := c.hc.Do(req)
	if err != nil {
		return c.transportError(ctx, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return c.transportError(ctx, err)
	}
	if resp.StatusCode >= 400 {
		return c.apiError(resp, data)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("the answer from %s to %s %s is not what rampart sends (%v): is --server pointing at rampart?", c.server, method, rampart.APIPrefix+p, err)
	}
	return nil
}

// apiError turns an error answer into a *rampart.Error. A body that is not
// rampart's error JSON most likely comes from something else at that
// address (a proxy, another program), and the message says so.
func (c *Client) apiError(resp *http.Response, data []byte) error {
	var e rampart.ErrorResponse
	if json.Unmarshal(data, &e) == nil && e.Error.Code != "" && e.Error.Message != "" {
		return &rampart.Error{Code: e.Error.Code, Message: e.Error.Message}
	}
	snippet := strings.Join(strings.Fields(string(data)), " ")
	if len(snippet) > 200 {
		snippet = snippet[:200] + "…"
	}
	if snippet != "" {
		snippet = ": " + snippet
	}
	return &rampart.Error{
		Code: rampart.CodeForStatus(resp.StatusCode),
		Message: fmt.Sprintf("%s answered %s without a rampart error (is --server pointing at rampart, not at a proxy or another program?)%s",
			c.server, resp.Status, snippet),
	}
}

// transportError explains a request that got no answer. The caller's own
// cancellation is returned as it is, since the caller knows why.
func (c *Client) transportError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("rampart at %s did not answer within %s: is the server overloaded or stuck? check its log: %w", c.server, c.timeout, err)
	}
	var unknownCA x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var verify *tls.CertificateVerificationError
	var notTLS tls.RecordHeaderError
	switch {
	case errors.As(err, &unknownCA), errors.As(err, &hostname), errors.As(err, &verify):
		return fmt.Errorf("cannot reach rampart at %s: its certificate is not trusted here (%w): use the server's real hostname, or install the CA that signed its certificate", c.server, err)
	// net/http replaces the typed error with a string of its own here.
	case errors.As(err, &notTLS), strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		return fmt.Errorf("cannot reach rampart at %s: the server does not speak HTTPS at that address (%w): try http:// in --server", c.server, err)
	}
	return fmt.Errorf("cannot reach rampart at %s: %w: is `rampart serve` running? check --server", c.server, err)
}
