package cache

import (
	"encoding/binary"
	"net/http"
	"net/textproto"
	"strings"
	"time"
)

// handler is the cache in front of one service's upstream proxy. It holds
// no state of its own beyond its settings.
type handler struct {
	c      *Cache
	s      *service
	set    settings
	next   http.Handler
	prefix string // start of every key: the length-prefixed service (its ID, from the edge)
	bg     Background
}

// keyBufSize is the stack buffer for keys; longer keys spill to the heap.
const keyBufSize = 256

// maxAttempts bounds how often one request looks again after a fill it
// waited for ended without a response for it (purged, abandoned, or stored
// under another variant).
const maxAttempts = 3

// Request flags.
const (
	reqRange      = 1 << iota // Range or If-Range: answered from a stored 200, never leads a fill
	reqCond                   // If-None-Match and friends: evaluated against a stored 200
	reqBackground             // a stale-while-revalidate refresh: no client waits for it
)

// conditionalHeaders are removed from the request of a fill, so that the
// upstream answers with a complete response that can be stored.
var conditionalHeaders = []string{"If-None-Match", "If-Modified-Since", "If-Match", "If-Unmodified-Since"}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	flags, ok := classify(r)
	var buf [keyBufSize]byte
	var key []byte
	if ok {
		key, ok = h.appendKey(buf[:0], r)
	}
	if !ok {
		h.s.bypasses.Add(1)
		w.Header()["X-Cache"] = xBypass
		// A WebSocket opened over HTTP/2 (an extended CONNECT, RFC
		// 8441) changes no resource: over HTTP/1.1 it is a GET.
		if !safeMethod(r.Method) && r.Header[":protocol"] == nil {
			h.invalidating(w, r)
			return
		}
		h.next.ServeHTTP(w, r)
		return
	}
	h.serve(w, r, key, flags)
}

// classify decides whether the cache may answer r at all, and notes the
// headers that change how.
func classify(r *http.Request) (flags int, ok bool) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return 0, false
	}
	// A GET with a body (some search APIs) is not identified by its URL.
	if r.ContentLength != 0 || len(r.TransferEncoding) > 0 {
		return 0, false
	}
	for k := range r.Header {
		if k != "" && 'a' <= k[0] && k[0] <= 'z' {
			// net/http canonicalizes names; a hand-built request may not.
			k = textproto.CanonicalMIMEHeaderKey(k)
		}
		switch k {
		case "Authorization", "Cookie", "Upgrade":
			return 0, false
		case "Range", "If-Range":
			flags |= reqRange
		case "If-None-Match", "If-Modified-Since", "If-Match", "If-Unmodified-Since":
			flags |= reqCond
		}
	}
	return flags, true
}

// appendKey appends r's primary key: service, scheme, host (lower case)
// and the request URI as sent, path and raw query (origin form). The length prefixes
// keep one part from running into the next.
func (h *handler) appendKey(b []byte, r *http.Request) ([]byte, bool) {
	uri := r.RequestURI
	if uri == "" || uri[0] != '/' {
		// Absolute form (GET http://host/path), or a request built by
		// hand: the same resource as its origin form.
		uri = r.URL.RequestURI()
	}
	if strings.IndexByte(uri, 0) >= 0 {
		// NUL separates variant keys; net/http never lets one through.
		return b, false
	}
	return h.appendKeyOf(b, r.TLS != nil, r.Host, uri), true
}

// appendKeyOf appends the primary key of a URL: scheme (https or not),
// host and request URI.
func (h *handler) appendKeyOf(b []byte, tls bool, host, uri string) []byte {
	b = append(b, h.prefix...)
	if tls {
		b = append(b, 's')
	} else {
		b = append(b, 'h')
	}
	b = binary.AppendUvarint(b, uint64(len(host)))
	for i := 0; i < len(host); i++ {
		c := host[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b = append(b, c)
	}
	return append(b, uri...)
}

// appendVariant appends to a primary key the request's values of the
// headers a response varies on.
func appendVariant(b []byte, names []string, hdr http.Header) []byte {
	for _, name := range names {
		b = append(b, 0)
		b = append(b, name...)
		b = append(b, ':')
		for i, v := range hdr[name] {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, v...)
		}
	}
	return b
}

// serve answers a cacheable request: from a fresh entry, by waiting for
// the fill already under way for its key, or by leading a new fill.
func (h *handler) serve(w http.ResponseWriter, r *http.Request, primary []byte, flags int) {
	c := h.c
	plen := len(primary)
	for range maxAttempts {
		now := c.now()
		key, hash, e, floor := h.lookup(primary[:plen], r, now)
		var stale *entry
		if e != nil {
			switch {
			case e.kind == kindPass:
				h.pass(w, r)
				return
			case now.Before(e.expires):
				h.hit(w, r, e, now, flags)
				return
			default:
				stale = e // expired: to revalidate, or to serve if the refresh fails
			}
		}
		if stale != nil && stale.canServeWhileRevalidating(now) {
			// RFC 5861 §3: the response said it may be served stale
			// while it is refreshed. This client is answered at once;
			// the first such request starts the one refresh, in the
			// background, and the others do not wait for it.
			f, leader := c.claim(key, hash, h.s, now, floor)
			if f == nil {
				continue // stored since we looked
			}
			if leader {
				p := fillPrimary(f, key, primary[:plen])
				if h.s.refreshes.Add(1) > maxRefreshes {
					// Too many refreshes of this service under way:
					// no client holds them back, so they are bounded
					// here. This one is made the usual way, and
					// waited for.
					h.s.refreshes.Add(-1)
					h.lead(w, r, f, p, flags, stale)
					return
				}
				h.refreshInBackground(r, f, p, stale)
			}
			h.s.stale.Add(1)
			write(w, r, stale, now, flags, xStale)
			return
		}

		var f *fill
		if flags&reqRange != 0 {
			// A range request cannot fill: the upstream would send a part.
			if f = c.pending(key, hash, h.s); f == nil {
				h.pass(w, r)
				return
			}
		} else {
			var leader bool
			if f, leader = c.claim(key, hash, h.s, now, floor); f == nil {
				continue // stored since we looked
			}
			if leader {
				h.lead(w, r, f, fillPrimary(f, key, primary[:plen]), flags, stale)
				return
			}
		}

		switch h.wait(r, f) {
		case waitGone:
			return
		case waitTimeout:
			if !h.serveStale(w, r, stale, flags) {
				h.pass(w, r)
			}
			return
		}
		switch f.outcome {
		case outStored:
			if f.entry.key == string(key) {
				h.hit(w, r, f.entry, c.now(), flags)
				return
			}
			// Stored under a variant we had no key for: look again.
		case outPass:
			h.pass(w, r)
			return
		case outFailed:
			if !h.serveStale(w, r, stale, flags) {
				h.pass(w, r)
			}
			return
		}
	}
	h.pass(w, r)
}

// maxRefreshes bounds a service's background refreshes under way at once.
// A client that is answered from the stale copy at once can ask for the
// next URL at once, so without a bound a slow upstream and many URLs would
// pile up goroutines and upstream connections; past it, refreshes are
// made while their client waits, which the edge's connection limits bound.
const maxRefreshes = 64

// fillPrimary is the primary key of fill f for key: f's own key, unless a
// Vary marker led to a variant of primary.
func fillPrimary(f *fill, key, primary []byte) string {
	if len(key) != len(primary) {
		return string(primary)
	}
	return f.key
}

// lookup finds the entry for r, following a Vary marker to the variant
// key. It returns the key a fill for r would use, its hash and the entry,
// or nil when there is nothing usable, and the Vary marker's floor: a
// variant whose fill began before that was invalidated (see invalidate).
func (h *handler) lookup(key []byte, r *http.Request, now time.Time) ([]byte, uint64, *entry, uint64) {
	hash := h.c.hashKey(key)
	e := h.c.get(key, hash)
	if e == nil || e.svc != h.s || !e.alive(now) {
		return key, hash, nil, 0
	}
	if e.kind != kindVary {
		return key, hash, e, 0
	}
	floor := e.floor
	key = appendVariant(key, e.vary, r.Header)
	hash = h.c.hashKey(key)
	e = h.c.get(key, hash)
	if e == nil || e.svc != h.s || e.kind != kindResponse || !e.alive(now) || e.seq <= floor {
		return key, hash, nil, floor
	}
	return key, hash, e, floor
}

const (
	waitDone = iota
	waitTimeout
	waitGone // the client went away
)

// wait blocks until fill f ends, the lock timeout passes or the client
// leaves. The leader closes f.done the moment the outcome is known, so a
// waiter is answered as soon as the one upstream fetch completes.
func (h *handler) wait(r *http.Request, f *fill) int {
	select {
	case <-f.done:
		return waitDone
	default:
	}
	t := time.NewTimer(h.c.lockTimeout)
	defer t.Stop()
	select {
	case <-f.done:
		return waitDone
	case <-t.C:
		return waitTimeout
	case <-r.Context().Done():
		return waitGone
	}
}

// pass sends r upstream without storing what comes back.
func (h *handler) pass(w http.ResponseWriter, r *http.Request) {
	h.s.misses.Add(1)
	w.Header()["X-Cache"] = xMiss
	h.next.ServeHTTP(w, r)
}

// hit answers r from a fresh entry.
func (h *handler) hit(w http.ResponseWriter, r *http.Request, e *entry, now time.Time, flags int) {
	if !e.ref.Load() {
		e.ref.Store(true)
	}
	h.s.hits.Add(1)
	write(w, r, e, now, flags, xHit)
}

// serveStale answers r from an expired entry if it is still within its
// stale-if-error window.
func (h *handler) serveStale(w http.ResponseWriter, r *http.Request, e *entry, flags int) bool {
	now := h.c.now()
	if e == nil || !e.canServeStale(now) {
		return false
	}
	h.s.stale.Add(1)
	write(w, r, e, now, flags, xStale)
	return true
}

// Fresh reports whether h, a handler made by [Cache.Handler], would answer
// r from a fresh stored response right now, without going upstream. It
// changes nothing: the fast lane (internal/edge/fastlane) asks it before it
// answers a request itself. A response that expires between the question
// and the answer is fetched as usual.
func Fresh(h http.Handler, r *http.Request) bool {
	ch, ok := h.(*handler)
	if !ok {
		return false
	}
	if _, ok := classify(r); !ok {
		return false
	}
	var buf [keyBufSize]byte
	key, ok := ch.appendKey(buf[:0], r)
	if !ok {
		return false
	}
	now := ch.c.now()
	_, _, e, _ := ch.lookup(key, r, now)
	return e != nil && e.kind == kindResponse && now.Before(e.expires)
}

var _ http.Handler = (*handler)(nil)
