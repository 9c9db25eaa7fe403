package ratelimit

import (
	"html"
	"io"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// HandlerOptions tune a [Handler]. The zero value works.
type HandlerOptions struct {
	// ClientIP decides the client's address; the edge passes its
	// trusted-proxy logic. Nil: the TCP peer address.
	ClientIP func(*http.Request) netip.Addr

	// QuietUntilHalf leaves the RateLimit fields off allowed responses
	// until the client has used half its quota: a client nearing the limit
	// still learns of it in time, and ordinary traffic is spared two header
	// fields. Refusals always carry them.
	QuietUntilHalf bool

	// Observe, if set, learns each request's client address and whether
	// the request was refused, before anything is written. It lets the
	// caller's access log and metrics count refusals without working the
	// address out again; w is the writer the Handler was given.
	Observe func(w http.ResponseWriter, client netip.Addr, refused bool)
}

// Handler is a Limiter as middleware: it asks the limiter about every
// request, answers refused ones with [Reject] and passes allowed ones on to
// the next handler. It holds no counters itself, so a Handler may be
// rebuilt whenever the chain around it changes while its Limiter keeps
// what clients have used.
type Handler struct {
	l    *Limiter
	next http.Handler
	opts HandlerOptions
}

// Wrap returns a Handler that limits the requests to next with l.
func (l *Limiter) Wrap(next http.Handler, opts HandlerOptions) *Handler {
	if opts.ClientIP == nil {
		opts.ClientIP = peerIP
	}
	return &Handler{l: l, next: next, opts: opts}
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ip := h.opts.ClientIP(r)
	d := h.l.Allow(ip)
	if h.opts.Observe != nil {
		h.opts.Observe(w, ip, !d.Allowed)
	}
	if !d.Allowed {
		Reject(w, r, d)
		return
	}
	if !h.opts.QuietUntilHalf || d.Remaining < d.Limit/2 {
		d.WriteHeaders(w.Header())
	}
	h.next.ServeHTTP(w, r)
}

func peerIP(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap().WithZone("")
}

// Reject answers a refused request: 429 Too Many Requests with the
// RateLimit fields and Retry-After, and a short page that says how long to
// wait, in HTML for browsers and in plain text for everything else. The
// answer must not be cached: it is about one client at one moment.
func Reject(w http.ResponseWriter, r *http.Request, d Decision) {
	h := w.Header()
	d.WriteHeaders(h)
	if _, ok := h[hdrRetryAfter]; !ok {
		h[hdrRetryAfter] = seconds(max(d.RetryAfterSeconds(), 1))
	}
	wait := waitText(max(d.RetryAfterSeconds(), 1))
	what := "Too many requests from your address."
	if d.Limit > 0 {
		what = "Too many requests from your address: this site allows " + d.rateText() + "."
	}
	next := "Please wait " + wait + " and try again."

	var b strings.Builder
	if acceptsHTML(r) {
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
		b.WriteString(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>429 Too many requests</title>
<style>
body{margin:0;min-height:100vh;display:flex;align-items:center;justify-content:center;font:16px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1f2328;background:#f6f8fa}
main{max-width:32rem;margin:1rem;padding:2rem 2.25rem;background:#fff;border:1px solid #d0d7de;border-radius:8px}
h1{margin:0 0 .75rem;font-size:1.25rem}
.code{color:#656d76;font-weight:normal}
p{margin:.5rem 0}
@media (prefers-color-scheme:dark){body{color:#e6edf3;background:#0d1117}main{background:#161b22;border-color:#30363d}.code{color:#8d96a0}}
</style></head>
<body><main>
<h1><span class="code">429</span> Too many requests</h1>
<p>`)
		b.WriteString(html.EscapeString(what))
		b.WriteString("</p>\n<p>")
		b.WriteString(html.EscapeString(next))
		b.WriteString("</p>\n</main></body></html>\n")
	} else {
		h.Set("Content-Type", "text/plain; charset=utf-8")
		b.WriteString(what)
		b.WriteString("\n")
		b.WriteString(next)
		b.WriteString("\n")
	}
	h.Set("Content-Length", strconv.Itoa(b.Len()))
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusTooManyRequests)
	if r.Method != http.MethodHead {
		_, _ = io.WriteString(w, b.String())
	}
}

// rateText says d's policy in words: "150 requests per minute".
func (d Decision) rateText() string {
	s := strconv.Itoa(d.Limit) + " requests per "
	if d.Limit == 1 {
		s = "1 request per "
	}
	switch d.Window {
	case 0, time.Minute:
		return s + "minute"
	case time.Second:
		return s + "second"
	default:
		return s + d.Window.String()
	}
}

func waitText(secs int64) string {
	if secs == 1 {
		return "1 second"
	}
	return strconv.FormatInt(secs, 10) + " seconds"
}

// acceptsHTML reports whether the client asked for HTML, as browsers do in
// every navigation; curl and scripts get plain text.
func acceptsHTML(r *http.Request) bool {
	for _, v := range r.Header["Accept"] {
		if strings.Contains(v, "text/html") {
			return true
		}
	}
	return false
}

var _ http.Handler = (*Handler)(nil)
