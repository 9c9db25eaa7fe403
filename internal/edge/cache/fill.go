package cache

import (
	"context"
	"hash/maphash"
	"net/http"
	"runtime/debug"
	"slices"
	"sync/atomic"
	"time"
)

// lead makes the upstream request for fill f on behalf of r and every
// request waiting for the same key. The leader's client gets the response
// streamed as it arrives; a copy goes into the cache if it turns out
// storable and complete. A HEAD leader fetches with GET, so that the entry
// has a body for the GETs after it; a conditional leader fetches
// unconditionally, so that the entry is a full response. It returns the
// upstream's status.
func (h *handler) lead(w http.ResponseWriter, r *http.Request, f *fill, primary string, flags int, stale *entry) int {
	fw := &fillWriter{
		rw: w, h: h, f: f, req: r, flags: flags, bg: flags&reqBackground != 0,
		primary: primary, stale: stale,
		head: r.Method == http.MethodHead,
		hdr:  make(http.Header),
	}
	// RFC 9111 §4.3.1: an expired entry with a validator is revalidated
	// with a conditional request of ours (the client's own conditionals,
	// if any, are answered from the entry afterwards).
	fw.reval = stale != nil && (stale.etag != "" || stale.lastModRaw != "")
	out := r
	if fw.head || flags&reqCond != 0 || fw.reval {
		out = r.WithContext(r.Context())
		out.Method = http.MethodGet
		if flags&reqCond != 0 || fw.reval {
			out.Header = r.Header.Clone()
			for _, k := range conditionalHeaders {
				delete(out.Header, k)
			}
		}
		if fw.reval {
			if stale.etag != "" {
				out.Header["If-None-Match"] = []string{stale.etag}
			}
			if stale.lastModRaw != "" {
				out.Header["If-Modified-Since"] = []string{stale.lastModRaw}
			}
		}
	}
	completed := false
	defer func() {
		if !completed {
			// A panic on its way up, most often http.ErrAbortHandler
			// from the proxy when the upstream broke off the body: the
			// response is incomplete. Wake the waiters and let it pass.
			fw.abort()
		}
	}()
	h.next.ServeHTTP(fw, out)
	completed = true
	fw.finish()
	return fw.upstream
}

// refreshTimeout bounds a background refresh: no client is there to give
// up on it.
const refreshTimeout = time.Minute

// backgroundDrop are the request fields a background refresh leaves out:
// it fetches the whole response, to store, not the part or the answer to a
// condition the client asked for.
var backgroundDrop = append([]string{"Range", "If-Range"}, conditionalHeaders...)

// refreshInBackground leads fill f, the refresh of stale for r's URL, on a
// goroutine of its own (stale-while-revalidate). The request is a copy of
// r as a plain GET, on a context that r's end does not cancel, bounded by
// refreshTimeout; the response goes into the cache, or stale stays (and
// serves on errors as usual), and nowhere else.
func (h *handler) refreshInBackground(r *http.Request, f *fill, primary string, stale *entry) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), refreshTimeout)
	out := r.Clone(ctx)
	out.Method = http.MethodGet
	out.Body, out.ContentLength = http.NoBody, 0
	for _, k := range backgroundDrop {
		delete(out.Header, k)
	}
	go func() {
		defer h.s.refreshes.Add(-1)
		defer cancel()
		defer func() {
			// The proxy panics with http.ErrAbortHandler when the
			// upstream breaks a body off (lead has ended the fill by
			// then). Nothing that goes wrong here may take the server
			// down: there is no net/http to recover it.
			if p := recover(); p != nil && p != http.ErrAbortHandler {
				h.c.errorLog.Error("cache: the background refresh of a stale response panicked",
					"url", out.Host+out.URL.RequestURI(), "panic", p, "stack", string(debug.Stack()))
			}
		}()
		serve := func(w http.ResponseWriter) int { return h.lead(w, out, f, primary, reqBackground, stale) }
		if h.bg != nil {
			h.bg(discard{make(http.Header)}, out, serve)
		} else {
			serve(discard{make(http.Header)})
		}
	}()
}

// discard is the ResponseWriter of a background refresh.
type discard struct{ hdr http.Header }

func (d discard) Header() http.Header       { return d.hdr }
func (discard) WriteHeader(int)             {}
func (discard) Write(p []byte) (int, error) { return len(p), nil }

// fillWriter is the ResponseWriter the upstream proxy writes the leader's
// response to. Until the status is known it keeps the header to itself;
// then it decides: store (copy the body as it passes), pass (no copy, and
// the waiters are released at once to go upstream on their own), or, for
// a 5xx while a stale copy exists, swallow the error and serve the copy.
type fillWriter struct {
	rw      http.ResponseWriter
	h       *handler
	f       *fill
	req     *http.Request // the client's request
	flags   int
	primary string
	stale   *entry // expired copy for stale-if-error, or nil
	head    bool   // the client asked HEAD: it gets no body
	bg      bool   // a background refresh: no client, counted in no stats

	hdr      http.Header // the upstream's header until WriteHeader
	v        verdict
	status   int      // of the response the client gets (a 304 to a revalidation: the stored one's)
	upstream int      // the status the upstream answered
	wrote    bool     // WriteHeader with a final status happened
	swallow  bool     // a 5xx is discarded; the stale copy is served instead
	reval    bool     // the request is a revalidation of stale
	fresh    *entry   // stale, refreshed by a 304: what the client gets
	cookies  []string // the 304's Set-Cookie: for this client alone, never stored
	capture  bool     // the body is being copied into body
	body     []byte
	ended    bool // the fill's outcome is out
}

func (fw *fillWriter) Header() http.Header {
	if fw.wrote && !fw.swallow {
		// Trailers are set after WriteHeader: they go to the client.
		return fw.rw.Header()
	}
	return fw.hdr
}

func (fw *fillWriter) WriteHeader(code int) {
	if fw.wrote {
		return
	}
	if code < 200 {
		fw.informational(code)
		return
	}
	fw.wrote, fw.status, fw.upstream = true, code, code
	now := fw.h.c.now()
	if code == http.StatusNotModified && fw.reval {
		fw.swallow = true // there is no body; the client gets the entry
		fw.refresh(now)
		return
	}
	if code >= 500 {
		fw.swallow = fw.stale != nil && fw.stale.canServeStale(now)
		fw.end(outFailed, nil)
		if fw.swallow {
			return
		}
	} else {
		fw.v = judge(code, fw.hdr, now, &fw.h.set)
		if fw.v.why == "" {
			fw.capture = true
			if fw.v.length > 0 {
				fw.body = make([]byte, 0, fw.v.length)
			}
		} else {
			fw.passOn(now)
		}
	}
	dst := fw.rw.Header()
	for k, v := range fw.hdr {
		if old, ok := dst[k]; ok {
			v = append(old, v...)
		}
		dst[k] = v
	}
	dst["X-Cache"] = xMiss
	fw.rw.WriteHeader(code)
}

// informational forwards a 1xx response (103 Early Hints) with the header
// the proxy set for it, leaving the client's header as it was.
func (fw *fillWriter) informational(code int) {
	dst := fw.rw.Header()
	saved := make(map[string][]string, len(fw.hdr))
	for k, v := range fw.hdr {
		saved[k] = dst[k]
		dst[k] = v
	}
	fw.rw.WriteHeader(code)
	for k, old := range saved {
		if old == nil {
			delete(dst, k)
		} else {
			dst[k] = old
		}
	}
}

func (fw *fillWriter) Write(p []byte) (int, error) {
	if !fw.wrote {
		fw.WriteHeader(http.StatusOK)
	}
	if fw.swallow {
		return len(p), nil
	}
	if fw.capture {
		if int64(len(fw.body)+len(p)) > fw.h.set.maxObject {
			fw.capture, fw.body = false, nil
			fw.v.why = whyTooBig
			fw.passOn(fw.h.c.now())
		} else {
			fw.body = append(fw.body, p...)
		}
	}
	if fw.head {
		return len(p), nil
	}
	n, err := fw.rw.Write(p)
	if err != nil && fw.capture {
		// The leader's client is gone, and with it the upstream copy.
		fw.capture, fw.body = false, nil
		fw.end(outRetry, nil)
	}
	return n, err
}

// FlushError passes flushes (streamed responses) on to the client.
func (fw *fillWriter) FlushError() error {
	if !fw.wrote {
		fw.WriteHeader(http.StatusOK)
	}
	if fw.swallow || fw.head {
		return nil
	}
	return http.NewResponseController(fw.rw).Flush()
}

func (fw *fillWriter) Flush() { _ = fw.FlushError() }

// Unwrap lets the edge find its recorder, and http.ResponseController the
// connection, under the cache's writer.
func (fw *fillWriter) Unwrap() http.ResponseWriter { return fw.rw }

// finish runs after the proxy returned normally.
func (fw *fillWriter) finish() {
	h := fw.h
	if !fw.wrote {
		if fw.req.Context().Err() != nil {
			// The client left before the upstream answered (the edge
			// logs a 499 and writes nothing): nothing to store or send.
			fw.count(&h.s.misses)
			fw.end(outRetry, nil)
			return
		}
		fw.WriteHeader(http.StatusOK)
	}
	if fw.bg && (fw.fresh != nil || fw.swallow) {
		// The copy, refreshed by a 304 or kept over a 5xx, would go to
		// the client; a background refresh has none.
		return
	}
	if fw.fresh != nil {
		fw.count(&h.s.misses)
		if fw.cookies != nil {
			fw.rw.Header()["Set-Cookie"] = fw.cookies
		}
		write(fw.rw, fw.req, fw.fresh, h.c.now(), fw.flags, xMiss)
		return
	}
	if fw.swallow {
		fw.count(&h.s.stale)
		write(fw.rw, fw.req, fw.stale, h.c.now(), fw.flags, xStale)
		return
	}
	fw.count(&h.s.misses)
	if fw.capture {
		fw.capture = false
		switch {
		case fw.req.Context().Err() != nil:
			fw.end(outRetry, nil) // client gone: the copy may be cut short
		case fw.v.length >= 0 && int64(len(fw.body)) != fw.v.length:
			fw.end(outFailed, nil) // upstream broke off
		default:
			fw.store()
		}
	}
	fw.end(outFailed, nil) // no-op unless a path above forgot
}

// abort ends the fill after a panic.
func (fw *fillWriter) abort() {
	o := outFailed
	if fw.req.Context().Err() != nil {
		o = outRetry
	}
	fw.end(o, nil)
	if !fw.swallow {
		fw.count(&fw.h.s.misses)
	}
}

// count adds the answer to a service counter; a background refresh
// answers no client and counts nothing.
func (fw *fillWriter) count(c *atomic.Uint64) {
	if !fw.bg {
		c.Add(1)
	}
}

// end publishes the fill's outcome and wakes the waiters, once.
func (fw *fillWriter) end(o outcome, e *entry) {
	if fw.ended {
		return
	}
	fw.ended = true
	fw.h.c.finish(fw.f, o, e)
}

// refresh handles a 304 to a revalidation (RFC 9111 §4.3.3, §4.3.4): the
// stored header is updated with the 304's fields, freshness is judged
// anew on the result, and the stored body stored again with it. The client
// gets the refreshed response (finish writes it), whether or not it could
// be stored.
func (fw *fillWriter) refresh(now time.Time) {
	old := fw.stale
	hdr := make(http.Header, len(old.header)+len(fw.hdr))
	for _, f := range old.header {
		if f.name != "Content-Length" {
			hdr[f.name] = f.values
		}
	}
	for k, v := range fw.hdr {
		// The 304's Age counts for the new freshness (storedHeader
		// drops it again).
		if !notStored(k) || k == "Age" {
			hdr[k] = v
		}
	}
	if sc := fw.hdr["Set-Cookie"]; len(sc) > 0 {
		// A cookie set on the revalidation is this client's: it gets
		// it with the refreshed response, and the judgement below sees
		// it, so the entry is dropped (its waiters go upstream
		// themselves) as for any response that sets a cookie. The
		// stored form never holds it (notStored).
		hdr["Set-Cookie"] = sc
		fw.cookies = sc
	}
	fw.status, fw.hdr, fw.body = old.status, hdr, old.body
	fw.v = judge(old.status, hdr, now, &fw.h.set)
	if fw.v.why == "" {
		fw.store()
	} else {
		fw.passOn(now)
	}
	if fw.f.outcome == outStored && fw.f.entry != nil {
		fw.fresh = fw.f.entry
		return
	}
	// Not stored (no-store now, purged, invalidated): answer this client
	// from the refreshed copy all the same.
	fw.fresh = newEntry(old.key, old.hash, fw.f, fw.h.s, old.status, hdr, old.body, &fw.v, &fw.h.set, now)
}

// passOn records that this URL's response is not storable ("hit-for-pass"):
// for one TTL, requests for it go straight upstream instead of queueing
// behind a fill that would not help them. Then it releases the waiters.
func (fw *fillWriter) passOn(now time.Time) {
	if fw.ended {
		return
	}
	c := fw.h.c
	exp := now.Add(fw.h.set.ttl)
	c.insert(newMarker(kindPass, fw.primary, maphash.String(c.seed, fw.primary), fw.f, fw.h.s, nil, exp, exp), now)
	fw.end(outPass, nil)
}

// store puts the complete response into the cache: under the primary key,
// or, when it varies, under its variant key with a Vary marker at the
// primary key.
func (fw *fillWriter) store() {
	c, h := fw.h.c, fw.h
	now := c.now()
	if fw.f.invalid.Load() {
		// An unsafe request changed the resource while this was on its
		// way: it may be the old version. The waiters look again.
		fw.end(outRetry, nil)
		return
	}
	key := fw.primary
	if len(fw.v.vary) > 0 {
		var buf [keyBufSize]byte
		key = string(appendVariant(append(buf[:0], fw.primary...), fw.v.vary, fw.req.Header))
	}
	e := newEntry(key, maphash.String(c.seed, key), fw.f, h.s, fw.status, fw.hdr, fw.body, &fw.v, &h.set, now)
	if !c.insert(e, now) {
		fw.end(outRetry, nil) // purged meanwhile
		return
	}
	if len(fw.v.vary) > 0 {
		ph := maphash.String(c.seed, fw.primary)
		m := newMarker(kindVary, fw.primary, ph, fw.f, h.s, fw.v.vary, e.expires, e.staleUntil)
		// Keep the other variants reachable for as long as they live.
		if old := c.get([]byte(fw.primary), ph); old != nil && old.kind == kindVary && old.svc == h.s &&
			old.alive(now) && slices.Equal(old.vary, m.vary) {
			if old.expires.After(m.expires) {
				m.expires = old.expires
			}
			if old.staleUntil.After(m.staleUntil) {
				m.staleUntil = old.staleUntil
			}
			m.floor = old.floor
		}
		c.insert(m, now)
	}
	fw.end(outStored, e)
}

var (
	_ http.ResponseWriter = (*fillWriter)(nil)
	_ http.Flusher        = (*fillWriter)(nil)
)
