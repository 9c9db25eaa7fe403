package h2lane

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"
)

// TestSameAsNetHTTP sends the same requests to the server and to net/http's
// HTTP/2 server with the same handler, and compares status, header fields
// (but Date) and bodies.
func TestSameAsNetHTTP(t *testing.T) {
	h := http.NewServeMux()
	h.HandleFunc("/plain", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "<html>hello</html>") })
	h.HandleFunc("/length", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "3")
		w.Header().Set("Cache-Control", "max-age=3")
		io.WriteString(w, "abc")
	})
	h.HandleFunc("/empty", func(w http.ResponseWriter, r *http.Request) {})
	h.HandleFunc("/nocontent", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) })
	h.HandleFunc("/notmodified", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Etag", `"x"`)
		w.WriteHeader(304)
	})
	h.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		w.Write(bytes.Repeat([]byte("big body "), 10000))
	})
	h.HandleFunc("/hop", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		w.Header().Set("Keep-Alive", "timeout=5")
		w.Header().Set("Transfer-Encoding", "chunked")
		w.Header().Set("Upgrade", "h2c")
		w.Header().Set("X-Kept", "yes")
		io.WriteString(w, "hop")
	})
	h.HandleFunc("/multi", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Set-Cookie", "a=1")
		w.Header().Add("Set-Cookie", "b=2")
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Encoding", "gzip")
		w.WriteHeader(201)
		w.Write([]byte{0x1f, 0x8b})
	})
	h.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		keys := make([]string, 0, len(r.Header))
		for k := range r.Header {
			keys = append(keys, k+"="+strings.Join(r.Header[k], "|"))
		}
		sort.Strings(keys)
		fmt.Fprintf(w, "%s %s %s %d %q %s %v", r.Method, r.Host, r.RequestURI, r.ContentLength, b, r.Proto, keys)
	})
	h.HandleFunc("/error", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "nope", http.StatusTeapot) })
	h.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/plain", http.StatusFound) })

	ours := startH2(t, &Server{Handler: h, Eligible: func(r *http.Request) bool { return r.URL.Query().Get("inline") != "" }})
	theirs := startNetHTTP(t, h)
	cl := h2Client(t)
	cl.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	type req struct{ method, path, body string }
	var reqs []req
	for _, p := range []string{"/plain", "/length", "/empty", "/nocontent", "/notmodified", "/big", "/hop", "/multi", "/echo", "/error", "/redirect", "/missing"} {
		for _, m := range []string{"GET", "HEAD"} {
			reqs = append(reqs, req{m, p, ""}, req{m, p + "?inline=1", ""})
		}
		reqs = append(reqs, req{"POST", p, "posted body"})
	}
	do := func(addr string, r req) string {
		var body io.Reader
		if r.body != "" {
			body = strings.NewReader(r.body)
		}
		hr, _ := http.NewRequest(r.method, "https://"+addr+r.path, body)
		hr.Host = "example.test"
		hr.Header.Set("X-Test", "1")
		hr.Header.Add("Cookie", "a=1")
		hr.Header.Add("Cookie", "b=2")
		res, err := cl.Do(hr)
		if err != nil {
			return "error: " + err.Error()
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		res.Header.Del("Date")
		// net/http's server passes these connection-specific fields on,
		// which RFC 9113 §8.2.2 forbids; ours drops them (the X-Kept
		// field beside them shows the rest of the header arrives).
		for _, k := range []string{"Keep-Alive", "Upgrade", "Proxy-Connection"} {
			res.Header.Del(k)
		}
		keys := make([]string, 0, len(res.Header))
		for k, v := range res.Header {
			keys = append(keys, k+": "+strings.Join(v, "|"))
		}
		sort.Strings(keys)
		return fmt.Sprintf("%d %d\n%s\n%q", res.StatusCode, res.ContentLength, strings.Join(keys, "\n"), b)
	}
	for _, r := range reqs {
		a, b := do(ours.addr, r), do(theirs, r)
		if a != b {
			t.Errorf("%s %s:\nours:\n%s\nnet/http:\n%s", r.method, r.path, a, b)
		}
	}
}
