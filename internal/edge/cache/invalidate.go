package cache

import (
	"net/http"
	"net/url"
	"strings"
)

// safeMethod reports whether a method is safe (RFC 9110 §9.2.1). Every
// other method, unknown ones included, may change the resource.
func safeMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	return false
}

// invalidating passes an unsafe request (POST, PUT, DELETE, PATCH, …)
// upstream and, if the answer is a success or redirect (2xx, 3xx), drops
// what is stored for its URL and for the same-host URLs in the answer's
// Location and Content-Location: RFC 9111 §4.4. It does so once the
// upstream has answered, even if the body then breaks off: the change is
// made by then.
func (h *handler) invalidating(w http.ResponseWriter, r *http.Request) {
	sw := &statusWriter{ResponseWriter: w}
	defer func() {
		if sw.status < 200 || sw.status >= 400 {
			return
		}
		h.invalidate(r.Host, requestURI(r))
		for _, loc := range sw.locations {
			h.invalidateRef(r, loc)
		}
	}()
	h.next.ServeHTTP(sw, r)
}

// requestURI is r's URI as the cache keys it (see appendKey).
func requestURI(r *http.Request) string {
	if uri := r.RequestURI; uri != "" && uri[0] == '/' {
		return uri
	}
	return r.URL.RequestURI()
}

// invalidateRef drops the stored responses for a Location or
// Content-Location value, resolved against r's URL, when it names r's host:
// §4.4 forbids invalidating another host's URLs on this response's word
// (one service could otherwise flush another's).
func (h *handler) invalidateRef(r *http.Request, ref string) {
	u, err := url.Parse(strings.TrimSpace(ref))
	if err != nil {
		return
	}
	if u.Host != "" && !strings.EqualFold(u.Host, r.Host) {
		return
	}
	if u.Scheme != "" && u.Scheme != "http" && u.Scheme != "https" {
		return
	}
	base, err := url.ParseRequestURI(requestURI(r))
	if err != nil {
		return
	}
	h.invalidate(r.Host, base.ResolveReference(u).RequestURI())
}

// invalidate drops what is stored under the primary key of host and uri,
// for both schemes (more invalidation is always safe): a response or a
// hit-for-pass marker goes; a Vary marker is replaced by one whose floor
// hides every variant stored so far, and every variant whose fill is under
// way (their keys hold the request's header values, so they cannot be
// looked up from here). A fill under way for the primary key stores
// nothing: it may have fetched the old version.
func (h *handler) invalidate(host, uri string) {
	if strings.IndexByte(uri, 0) >= 0 {
		return
	}
	c := h.c
	now := c.now()
	var buf [keyBufSize]byte
	for _, tls := range [...]bool{false, true} {
		key := h.appendKeyOf(buf[:0], tls, host, uri)
		hash := c.hashKey(key)
		if f := c.pending(key, hash, h.s); f != nil {
			f.invalid.Store(true)
		}
		e := c.get(key, hash)
		if e == nil || e.svc != h.s {
			continue
		}
		if e.kind == kindVary && e.alive(now) {
			m := &entry{
				key: e.key, hash: e.hash, svc: e.svc, gen: e.gen, kind: kindVary, vary: e.vary,
				floor: c.seq.Add(1), expires: e.expires, staleUntil: e.staleUntil, size: e.size,
			}
			if c.insert(m, now) {
				continue
			}
		}
		c.remove(e)
	}
}

// statusWriter notes the status of a response and the Location and
// Content-Location it was sent with.
type statusWriter struct {
	http.ResponseWriter
	status    int
	locations []string
}

func (sw *statusWriter) WriteHeader(code int) {
	if sw.status == 0 && code >= 200 {
		sw.status = code
		hdr := sw.ResponseWriter.Header()
		sw.locations = append(sw.locations, hdr["Location"]...)
		sw.locations = append(sw.locations, hdr["Content-Location"]...)
	}
	sw.ResponseWriter.WriteHeader(code)
}

func (sw *statusWriter) Write(p []byte) (int, error) {
	if sw.status == 0 {
		sw.WriteHeader(http.StatusOK)
	}
	return sw.ResponseWriter.Write(p)
}

// FlushError passes flushes (streamed responses) on to the client.
func (sw *statusWriter) FlushError() error {
	if sw.status == 0 {
		sw.WriteHeader(http.StatusOK)
	}
	return http.NewResponseController(sw.ResponseWriter).Flush()
}

func (sw *statusWriter) Flush() { _ = sw.FlushError() }

// Unwrap lets the edge find its recorder, and http.ResponseController the
// connection, under the cache's writer.
func (sw *statusWriter) Unwrap() http.ResponseWriter { return sw.ResponseWriter }

var (
	_ http.ResponseWriter = (*statusWriter)(nil)
	_ http.Flusher        = (*statusWriter)(nil)
)
