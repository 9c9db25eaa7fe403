// Package demo is the small web application that `rampart serve --demo`
// puts behind the edge, so that a newcomer sees a request go through
// rampart without having an app of their own. Its page shows what the
// upstream receives (the Host and X-Forwarded-* headers set by the edge),
// which is also what a person debugging a real app wants to see.
package demo

import (
	"fmt"
	"html/template"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync/atomic"
	"time"
)

// App is the demo upstream. Its zero value is ready to serve.
type App struct {
	hits atomic.Int64
}

var page = template.Must(template.New("demo").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>rampart demo app</title>
<style>
body{font:16px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;background:#f6f7f9;color:#1b1f24}
main{max-width:46rem;margin:3rem auto;padding:0 1.25rem}
.card{background:#fff;border:1px solid #e3e6ea;border-radius:10px;padding:1.5rem 1.75rem;margin-bottom:1.25rem}
h1{font-size:1.6rem;margin:0 0 .25rem}.muted{color:#5b6470}
table{border-collapse:collapse;width:100%;font-size:.92rem}td{padding:.35rem .5rem;border-top:1px solid #eef0f2;vertical-align:top}
td:first-child{color:#5b6470;white-space:nowrap;width:1%}code{font:13px ui-monospace,SFMono-Regular,Menlo,monospace;word-break:break-all}
.ok{display:inline-block;background:#e7f6ec;color:#17663a;border-radius:999px;padding:.1rem .65rem;font-size:.85rem;font-weight:600}
</style></head>
<body><main>
<div class="card"><span class="ok">Reached through rampart</span>
<h1>Hello from the demo app</h1>
<p class="muted">This page is served by a small app running inside <code>rampart serve --demo</code>. Your request went through rampart's edge, which routed it by its host name to this upstream.</p>
{{if .Cached}}<p>This copy may come from rampart's <strong>output cache</strong>: reload within 3 seconds and the request number and time below stay the same (the response has <code>X-Cache: HIT</code> and an <code>Age</code>). A shared copy shows none of the request's headers. <a href="/">Back to the live page</a>.</p>
{{else}}<p>This page is marked <code>Cache-Control: no-store</code> because it shows your request. <a href="/cached">See a cacheable page</a> to watch the output cache at work.</p>{{end}}</div>
<div class="card"><h2 style="margin-top:0;font-size:1.1rem">What the app received</h2>
<table>
<tr><td>Host</td><td><code>{{.Host}}</code></td></tr>
<tr><td>Method and path</td><td><code>{{.Method}} {{.Path}}</code></td></tr>
{{if not .Cached}}<tr><td>Peer (the edge)</td><td><code>{{.Peer}}</code></td></tr>{{end}}
{{range .Headers}}<tr><td>{{.Name}}</td><td><code>{{.Value}}</code></td></tr>
{{end}}<tr><td>Request number</td><td><code>{{.Hits}}</code></td></tr>
<tr><td>Served at</td><td><code>{{.Time}}</code></td></tr>
</table></div>
</main></body></html>
`))

type header struct{ Name, Value string }

// ServeHTTP answers every path with the demo page, which is not to be
// cached; /cached answers the same page, cacheable, to show the output
// cache; /healthz answers "ok".
func (a *App) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/healthz" {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "the demo app only answers GET and HEAD", http.StatusMethodNotAllowed)
		return
	}
	cached := r.URL.Path == "/cached"
	var hs []header
	for name, vals := range r.Header {
		if cached {
			break // a shared copy shows nobody's headers
		}
		if strings.HasPrefix(name, "X-Forwarded-") || name == "X-Request-Id" || name == "User-Agent" {
			hs = append(hs, header{name, strings.Join(vals, ", ")})
		}
	}
	sort.Slice(hs, func(i, j int) bool { return hs[i].Name < hs[j].Name })
	data := struct {
		Host, Method, Path, Peer, Time string
		Headers                        []header
		Hits                           int64
		Cached                         bool
	}{r.Host, r.Method, r.URL.RequestURI(), r.RemoteAddr, time.Now().UTC().Format(time.RFC3339Nano), hs, a.hits.Add(1), cached}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if !data.Cached {
		w.Header().Set("Cache-Control", "no-store") // it shows per-request data
	}
	if err := page.Execute(w, data); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}

// Listen starts the demo app on a free loopback port and returns its base
// URL and a function that stops it.
func Listen() (url string, stop func() error, err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, fmt.Errorf("starting the demo app: %w", err)
	}
	srv := &http.Server{Handler: new(App), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	return "http://" + ln.Addr().String(), srv.Close, nil
}
