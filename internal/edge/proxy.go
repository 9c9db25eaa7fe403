package edge

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httputil"
	"net/textproto"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/rampart-dev/rampart/internal/edge/forward"
	"github.com/rampart-dev/rampart/internal/egress"
)

// upstreams is the end of a route's chain: it picks an upstream round-robin
// and hands the request to that upstream's reverse proxy.
type upstreams struct {
	e       *Edge
	rt      *route
	proxies []*httputil.ReverseProxy
	hosts   []*forward.Host // the forwarder's pool for each upstream; nil: httputil only
	drop    []string        // response fields the forwarder drops (see modifyResponse)
	names   []string        // the upstream URLs, for the access log
	next    atomic.Uint32
}

func (e *Edge) newUpstreams(rt *route) *upstreams {
	u := &upstreams{
		e:       e,
		rt:      rt,
		proxies: make([]*httputil.ReverseProxy, len(rt.targets)),
		hosts:   make([]*forward.Host, len(rt.targets)),
		names:   make([]string, len(rt.targets)),
		drop:    upstreamDrops(rt),
	}
	pool := e.pools.restricted
	if rt.allowPrivate {
		pool = e.pools.privileged
	}
	for i, target := range rt.targets {
		u.names[i] = target.String()
		u.proxies[i] = e.newProxy(rt, target)
		// The forwarder speaks plain HTTP/1.1 and joins no base path.
		if pool != nil && target.Scheme == "http" && target.Path == "" && target.RawPath == "" {
			port := target.Port()
			if port == "" {
				port = "80"
			}
			u.hosts[i] = pool.Host(net.JoinHostPort(target.Hostname(), port))
		}
	}
	return u
}

func (u *upstreams) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	i := 0
	if len(u.proxies) > 1 {
		i = int((u.next.Add(1) - 1) % uint32(len(u.proxies)))
	}
	h := u.hosts[i]
	if h != nil && !forwardable(r) {
		h = nil
	}
	if rec := recorderOf(w); rec != nil {
		rec.upstream = u.names[i]
		rec.watchBody(r)
	}
	if isWebSocketConnect(r) {
		u.webSocket(w, r, i)
		return
	}
	if h != nil {
		u.forward(h, w, r)
		return
	}
	if u.rt.hold > 0 {
		// The edge's own transports read it when they dial (see
		// holdingDialer).
		r = r.WithContext(context.WithValue(r.Context(), holdKey{}, u.rt.hold))
	}
	u.proxies[i].ServeHTTP(w, r)
}

// holdKey carries a route's hold to the transport's dialer in the context
// of a request that goes through httputil.
type holdKey struct{}

// holdingDialer dials like d, and waits for an upstream that refuses the
// connection as long as the request's route asks (Route.Hold, through
// holdKey).
func holdingDialer(d *net.Dialer) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		hold, _ := ctx.Value(holdKey{}).(time.Duration)
		return forward.DialHolding(ctx, hold, func(ctx context.Context) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		})
	}
}

// forwardable reports whether the forwarder can carry r exactly as
// httputil.ReverseProxy would: no protocol upgrade, no Expect (the
// forwarder sends no body before the upstream's 100 Continue), a body of
// known length, a path and query that ReverseProxy would send unchanged,
// and an ASCII Host. The rest goes through httputil.
func forwardable(r *http.Request) bool {
	h := r.Header
	if len(h["Upgrade"]) > 0 || len(h["Expect"]) > 0 || r.ContentLength < 0 || r.URL.Opaque != "" ||
		!strings.HasPrefix(r.URL.Path, "/") || r.Host == "" {
		return false
	}
	for _, v := range h["Connection"] {
		if httpguts.HeaderValuesContainsToken([]string{v}, "upgrade") {
			return false
		}
	}
	for i := range len(r.Host) {
		if c := r.Host[i]; c <= ' ' || c >= 0x7f || c == '%' || c == '/' {
			return false
		}
	}
	// ReverseProxy re-encodes a query with ';' or a bad escape.
	q := r.URL.RawQuery
	for i := 0; i < len(q); i++ {
		switch q[i] {
		case ';':
			return false
		case '%':
			if i+2 >= len(q) || !isHex(q[i+1]) || !isHex(q[i+2]) {
				return false
			}
		}
	}
	return true
}

func isHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

// hopHeaders are the request fields that belong to the client's
// connection, not to the request (RFC 9110 §7.6.1), as ReverseProxy
// removes them.
var hopHeaders = [...]string{"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

// forward sends r through the forwarder, with the rewrite newProxy's
// Rewrite makes: the client's fields but the hop-by-hop ones, those the
// Connection field names and those in which the client claims an
// identity; the edge's X-Forwarded-*, X-Real-Ip and Via.
func (u *upstreams) forward(h *forward.Host, w http.ResponseWriter, r *http.Request) {
	e := u.e
	conn := r.Header["Connection"]
	out := outHeaders.Get().(http.Header)
	for k, vv := range r.Header {
		if slices.Contains(hopHeaders[:], k) || namedIn(conn, k) {
			continue
		}
		out[k] = slices.Clip(vv) // an append must not write into the client's
	}
	if httpguts.HeaderValuesContainsToken(r.Header["Te"], "trailers") {
		out["Te"] = []string{"trailers"} // the upstream may send trailers
	}
	e.setForwardedHeader(out, r)
	req := forward.Request{
		Method:        r.Method,
		Target:        r.URL.RequestURI(),
		Host:          r.Host,
		Header:        out,
		Body:          r.Body,
		ContentLength: r.ContentLength,
		Drop:          u.drop,
		Hold:          u.rt.hold,
		HoldClosed:    u.rt.holdClosed,
	}
	err := h.Forward(r.Context(), w, &req, e.errorLog.Printf)
	// Forward keeps nothing of the fields (after a panic, the map is
	// left to the garbage collector).
	clear(out)
	outHeaders.Put(out)
	if err != nil {
		e.upstreamError(u.rt, w, r, err)
	}
}

// outHeaders recycles the maps of forwarded requests' fields. They start
// small (up to 8 fields in one group, cheap to clear for the next
// request); a map that grows for a request with many fields stays grown.
var outHeaders = sync.Pool{New: func() any { return make(http.Header, 8) }}

// namedIn reports whether a Connection field names k.
func namedIn(conn []string, k string) bool {
	for _, v := range conn {
		for tok := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(textproto.TrimString(tok), k) {
				return true
			}
		}
	}
	return false
}

// newProxy returns the reverse proxy for one upstream of a route. One proxy
// per upstream means the choice of upstream needs no per-request state in
// the Rewrite hook.
func (e *Edge) newProxy(rt *route, target *url.URL) *httputil.ReverseProxy {
	modify := modifyResponse
	if rt.hsts != nil {
		modify = dropUpstreamHSTS
	}
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = pr.In.Host // the upstream sees the name it is known by
			e.setForwarded(pr)
		},
		Transport:      e.upstreamTransport(rt),
		BufferPool:     e.buffers,
		ErrorLog:       e.errorLog,
		ModifyResponse: modify,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			e.upstreamError(rt, w, r, err)
		},
		// FlushInterval 0: buffered copy for responses of known length;
		// httputil flushes every write of server-sent events and of
		// responses without a Content-Length (chunked streams) by itself.
	}
}

// setForwarded replaces whatever the client said about itself with what
// the edge vouches for (see dropIdentity), and adds the edge to Via.
// httputil has already removed X-Forwarded-For, -Host, -Proto and
// Forwarded; the other identity headers it leaves.
//
// X-Forwarded-For carries the one client IP that e.clientIP decided on
// (after the trusted proxies, if any): the upstream gets the address the
// edge vouches for, not a chain it would have to judge itself. X-Real-IP
// carries the same address, because many applications read that one
// instead, and one the client wrote must not reach them.
func (e *Edge) setForwarded(pr *httputil.ProxyRequest) {
	e.setForwardedHeader(pr.Out.Header, pr.In)
}

// setForwardedHeader is setForwarded on the outgoing fields h of the
// incoming request in, for both the forwarder and httputil.
func (e *Edge) setForwardedHeader(h http.Header, in *http.Request) {
	dropIdentity(h)
	proto := "http"
	if in.TLS != nil {
		proto = "https"
	}
	// One backing array for the five values; the full slice expressions
	// keep an append to one from overwriting the next.
	v := make([]string, 5)
	v[1], v[2], v[4] = in.Host, proto, e.via.entry(in)
	if ip := e.clientIP(in); ip.IsValid() {
		v[0] = ip.String()
		v[3] = v[0]
		h["X-Forwarded-For"] = v[0:1:1]
		h["X-Real-Ip"] = v[3:4:4]
	}
	h["X-Forwarded-Host"] = v[1:2:2]
	h["X-Forwarded-Proto"] = v[2:3:3]
	// Another proxy's entries stay, ahead of the edge's (RFC 9110 §7.6.3).
	if prev := h["Via"]; len(prev) > 0 {
		h["Via"] = append(prev, v[4])
	} else {
		h["Via"] = v[4:5:5]
	}
}

// modifyResponse drops the upstream's own X-Request-Id: the edge already set
// its ID on the response (the same one it sent upstream), and the proxy adds
// upstream header values rather than replacing them.
func modifyResponse(res *http.Response) error {
	for _, name := range upstreamDrops(nil) {
		delete(res.Header, name)
	}
	return nil
}

// upstreamDrops are the response fields of rt's upstreams that the client
// never sees: X-Request-Id, and for a route with HSTS the upstream's
// Strict-Transport-Security (see dropUpstreamHSTS). nil rt: a route
// without HSTS.
func upstreamDrops(rt *route) []string {
	if rt != nil && rt.hsts != nil {
		return dropsHSTS
	}
	return drops
}

var (
	drops     = []string{headerRequestID}
	dropsHSTS = []string{headerRequestID, headerHSTS}
)

// upstreamError answers a request whose upstream could not be reached or
// broke off before sending response headers.
func (e *Edge) upstreamError(rt *route, w http.ResponseWriter, r *http.Request, err error) {
	rec := recorderOf(w)
	var ended bool
	if rec != nil {
		ended = rec.clientEnded(r)
	} else {
		ended = errors.Is(r.Context().Err(), context.Canceled)
	}
	switch {
	case ended && (rec == nil || rec.status == statusClientClosed):
		// Nobody is left to read an answer, and a handler that returns
		// without one makes net/http send an empty 200, which a client
		// that only stopped sending (or the output cache) would take
		// for the real thing. Close the connection (reset the stream)
		// instead; ServeHTTP logs the request as the client's.
		panic(http.ErrAbortHandler)
	case ended: // a malformed body: the client is there to read why
		writePage(w, r, rec.status, normalizeHost(r.Host), r.Header.Get(headerRequestID))
		return
	case rec != nil:
		rec.err = err
	}
	if rt.metrics != nil {
		rt.metrics.upstreamErrors.Inc()
	}
	status := http.StatusBadGateway
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
		status = http.StatusGatewayTimeout
	}
	writePage(w, r, status, normalizeHost(r.Host), r.Header.Get(headerRequestID))
}

// NewTransport returns the transport the edge uses when Config.Transport is
// nil, tuned for a reverse proxy: large keep-alive pools, because every
// client connection may need an upstream connection of its own; bounded
// dial and response-header waits, so a dead upstream turns into a 502/504
// instead of hanging clients; no environment proxy and no transparent
// compression, because the edge forwards bodies untouched. It dials any
// address: rampart serve uses [NewUpstreamTransport], which does not.
func NewTransport() *http.Transport {
	return newTransport(nil, nil)
}

func newTransport(control func(network, address string, c syscall.RawConn) error, resolver *net.Resolver) *http.Transport {
	dialer := &net.Dialer{
		Timeout:   5 * time.Second,
		KeepAlive: 30 * time.Second,
		Control:   control,
		Resolver:  resolver,
	}
	return &http.Transport{
		Proxy:       nil, // never route upstream traffic through $HTTP_PROXY
		DialContext: holdingDialer(dialer),
		// Idle connections kept per upstream. The bench's nginx keeps 64 per
		// worker (128 on two cores), Caddy 64. Below the number of
		// concurrent requests, every burst closes and redials connections.
		MaxIdleConns:          4096,
		MaxIdleConnsPerHost:   128,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 60 * time.Second, // like nginx proxy_read_timeout
		ExpectContinueTimeout: 1 * time.Second,
		DisableCompression:    true,
		ForceAttemptHTTP2:     false, // HTTP/1.1 to upstreams: WebSocket upgrades need it
	}
}

// UpstreamTransport is [NewTransport]'s transport with an egress policy
// applied where it cannot be dodged: to the address each connection is
// opened to, after name resolution (net.Dialer.Control). A host name that
// resolved to an allowed address when its service was saved and resolves
// to a forbidden one now (DNS rebinding) is refused here; the request gets
// a 502 and the access log the reason ("upstream address 127.0.0.1 is not
// allowed: …").
//
// It keeps two connection pools: one for routes held to the policy and one
// for routes whose override is on ([Route.AllowPrivate]). http.Transport
// pools connections by host and port, not by route, so with one pool a
// connection that an overridden route opened to a name that now points
// at loopback could be reused by a route that may not go there.
//
// The checks cost nothing per request: only a new connection is checked.
type UpstreamTransport struct {
	restricted, privileged *http.Transport
	// The edge's forwarder (internal/edge/forward) keeps its own
	// connections, separated the same way.
	pools forwardPools
}

// forwardPools are the forwarder's connection pools: restricted for the
// routes held to the egress policy, privileged for those with the
// override. Both nil: the edge's transport is the caller's, and only it
// carries requests.
type forwardPools struct {
	restricted, privileged *forward.Pool
}

// NewUpstreamTransport returns a transport that dials only where p allows.
// It looks host names up with r; nil: the system's resolver.
func NewUpstreamTransport(p *egress.Policy, r *net.Resolver) *UpstreamTransport {
	return &UpstreamTransport{
		restricted: newTransport(p.Control(false), r), privileged: newTransport(p.Control(true), r),
		pools: forwardPools{forward.NewPool(p.Control(false), r), forward.NewPool(p.Control(true), r)},
	}
}

// RoundTrip sends r through the pool held to the policy; routes with the
// override get the other one from the edge (see upstreamTransport).
func (t *UpstreamTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return t.restricted.RoundTrip(r)
}

// CloseIdleConnections closes both pools' idle connections.
func (t *UpstreamTransport) CloseIdleConnections() {
	t.restricted.CloseIdleConnections()
	t.privileged.CloseIdleConnections()
	t.pools.restricted.CloseIdle()
	t.pools.privileged.CloseIdle()
}

// upstreamTransport is the transport for rt's proxies: the overridden
// pool of an UpstreamTransport for a route with AllowPrivate, the
// configured transport otherwise.
func (e *Edge) upstreamTransport(rt *route) http.RoundTripper {
	if t, ok := e.transport.(*UpstreamTransport); ok && rt.allowPrivate {
		return t.privileged
	}
	return e.transport
}

// copyBufferSize is httputil's own default body copy buffer.
const copyBufferSize = 32 << 10

// bufferPool recycles the proxies' body copy buffers. It keeps array
// pointers so that Get and Put allocate nothing.
type bufferPool struct{}

var copyBuffers = sync.Pool{New: func() any { return new([copyBufferSize]byte) }}

func (bufferPool) Get() []byte { return copyBuffers.Get().(*[copyBufferSize]byte)[:] }

func (bufferPool) Put(b []byte) {
	if cap(b) >= copyBufferSize {
		copyBuffers.Put((*[copyBufferSize]byte)(b[:copyBufferSize]))
	}
}

var _ http.Handler = (*upstreams)(nil)
