package edge

import (
	"html"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// page is the wording of one error page. Pages speak to the visitor of a
// site, who cannot fix anything, so they say what is wrong and whether
// waiting helps; they never name upstream addresses or error details (those
// go to the access log).
type page struct {
	title string
	what  string // completed with the host name
	next  string
}

var pages = map[int]page{
	http.StatusBadRequest: {
		title: "Bad request",
		what:  "The request to %s could not be read.",
		next:  "Its body was malformed. Send it again; if this keeps happening, the program sending it needs fixing.",
	},
	http.StatusNotFound: {
		title: "No service here",
		what:  "No service at %s.",
		next:  "Check the address. If you own this domain, add it to one of your services.",
	},
	http.StatusMethodNotAllowed: {
		title: "Method not allowed",
		what:  "%s does not accept CONNECT requests.",
		next:  "This server is not a forward proxy.",
	},
	http.StatusBadGateway: {
		title: "Service not answering",
		what:  "The service at %s is not answering.",
		next:  "Its application did not respond. Please try again in a moment.",
	},
	http.StatusServiceUnavailable: {
		title: "Service stopped",
		what:  "The service at %s is stopped.",
		next:  "Please try again later.",
	},
	http.StatusLoopDetected: {
		title: "Loop detected",
		what:  "The service at %s sends its requests back to itself.",
		next:  "Its upstream points at this server. The owner of the service needs to change its upstream address.",
	},
	http.StatusGatewayTimeout: {
		title: "Service timed out",
		what:  "The service at %s did not answer in time.",
		next:  "Its application is taking too long. Please try again in a moment.",
	},
}

// maxPageHost bounds how much of a Host header an error page repeats.
const maxPageHost = 100

// writePage answers r with the error page for status: HTML for browsers,
// plain text for everything else (curl, scripts, API clients).
func writePage(w http.ResponseWriter, r *http.Request, status int, host, id string) {
	p, ok := pages[status]
	if !ok {
		p = page{title: http.StatusText(status), what: "%s: " + http.StatusText(status) + "."}
	}
	if host == "" {
		host = "this address"
	} else if len(host) > maxPageHost {
		host = host[:maxPageHost] + "…"
	}

	var b strings.Builder
	h := w.Header()
	if acceptsHTML(r) {
		h.Set("Content-Type", "text/html; charset=utf-8")
		// The page needs nothing but its inline style.
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
		writeHTML(&b, status, p, host, id)
	} else {
		h.Set("Content-Type", "text/plain; charset=utf-8")
		b.WriteString(strings.Replace(p.what, "%s", host, 1))
		b.WriteString("\n")
		b.WriteString(p.next)
		b.WriteString("\nRequest ID: ")
		b.WriteString(id)
		b.WriteString("\n")
	}
	h.Set("Content-Length", strconv.Itoa(b.Len()))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = io.WriteString(w, b.String())
	}
}

func writeHTML(b *strings.Builder, status int, p page, host, id string) {
	b.WriteString(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>`)
	b.WriteString(strconv.Itoa(status))
	b.WriteString(" ")
	b.WriteString(html.EscapeString(p.title))
	b.WriteString(`</title>
<style>
body{margin:0;min-height:100vh;display:flex;align-items:center;justify-content:center;font:16px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1f2328;background:#f6f8fa}
main{max-width:32rem;margin:1rem;padding:2rem 2.25rem;background:#fff;border:1px solid #d0d7de;border-radius:8px}
h1{margin:0 0 .75rem;font-size:1.25rem}
.code{color:#656d76;font-weight:normal}
p{margin:.5rem 0}
.id{margin-top:1.5rem;font-size:.8125rem;color:#656d76}
code{font-family:ui-monospace,SFMono-Regular,Menlo,monospace}
@media (prefers-color-scheme:dark){body{color:#e6edf3;background:#0d1117}main{background:#161b22;border-color:#30363d}.code,.id{color:#8d96a0}}
</style></head>
<body><main>
<h1><span class="code">`)
	b.WriteString(strconv.Itoa(status))
	b.WriteString(`</span> `)
	b.WriteString(html.EscapeString(p.title))
	b.WriteString("</h1>\n<p>")
	what, rest, _ := strings.Cut(p.what, "%s")
	b.WriteString(html.EscapeString(what))
	b.WriteString("<strong>")
	b.WriteString(html.EscapeString(host))
	b.WriteString("</strong>")
	b.WriteString(html.EscapeString(rest))
	b.WriteString("</p>\n<p>")
	b.WriteString(html.EscapeString(p.next))
	b.WriteString("</p>\n<p class=\"id\">Request ID: <code>")
	b.WriteString(html.EscapeString(id))
	b.WriteString("</code></p>\n</main></body></html>\n")
}

// acceptsHTML reports whether the client asked for HTML, as browsers do in
// every navigation. Clients that send no Accept header, or */* (curl), get
// plain text, which reads better in a terminal.
func acceptsHTML(r *http.Request) bool {
	for _, v := range r.Header["Accept"] {
		if strings.Contains(v, "text/html") {
			return true
		}
	}
	return false
}
