package cache

import (
	"bytes"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// X-Cache values. Shared, with cap == len: a writer that appends to one
// gets a copy.
var (
	xHit    = []string{"HIT"}
	xMiss   = []string{"MISS"}
	xBypass = []string{"BYPASS"}
	xStale  = []string{"STALE"}
)

// write answers r from e: the stored header, X-Cache and Age, then the
// body in one write. Range and conditional requests on a stored 200 go
// through http.ServeContent, which answers 206, 304, 412 or 416 as due.
func write(w http.ResponseWriter, r *http.Request, e *entry, now time.Time, flags int, xc []string) {
	dst := w.Header()
	for i := range e.header {
		f := &e.header[i]
		dst[f.name] = f.values
	}
	dst["X-Cache"] = xc
	dst["Age"] = ageValue(e.age0 + int64(now.Sub(e.stored)/time.Second))
	if flags != 0 && e.status == http.StatusOK {
		http.ServeContent(w, r, "", e.lastMod, bytes.NewReader(e.body))
		return
	}
	w.WriteHeader(e.status)
	if r.Method != http.MethodHead && len(e.body) > 0 {
		_, _ = w.Write(e.body)
	}
}

// ages holds the Age values of the first minutes, so that hits do not
// allocate one.
var ages = func() [][]string {
	const n = 1024
	vals := make([]string, n)
	out := make([][]string, n)
	for i := range vals {
		vals[i] = strconv.Itoa(i)
		out[i] = vals[i : i+1 : i+1]
	}
	return out
}()

func ageValue(n int64) []string {
	if n < 0 {
		n = 0
	}
	if n < int64(len(ages)) {
		return ages[n]
	}
	return []string{strconv.FormatInt(n, 10)}
}

// notStored are response headers that are not kept: the hop-by-hop ones
// (the proxy has removed them already), those the cache sets itself, and
// Content-Length, recomputed from the stored body.
func notStored(name string) bool {
	switch name {
	case "Age", "X-Cache", "Content-Length", "Set-Cookie",
		"Connection", "Keep-Alive", "Proxy-Connection", "Transfer-Encoding", "Te", "Trailer", "Upgrade":
		return true
	}
	return false
}

// storedHeader turns a response header into its stored form, sorted by
// name, with all values in one backing array, and returns its size.
func storedHeader(h http.Header, bodyLen int, status int) ([]headerField, int64) {
	n := 1
	for name, vals := range h {
		if !notStored(name) {
			n += len(vals)
		}
	}
	all := make([]string, 0, n)
	fields := make([]headerField, 0, len(h)+1)
	var size int64
	add := func(name string, vals ...string) {
		start := len(all)
		all = append(all, vals...)
		fields = append(fields, headerField{name: name, values: all[start:len(all):len(all)]})
		size += int64(len(name)) + 32
		for _, v := range vals {
			size += int64(len(v)) + 16
		}
	}
	for name, vals := range h {
		if !notStored(name) && len(vals) > 0 {
			add(name, vals...)
		}
	}
	if status != http.StatusNoContent && status != http.StatusNotModified {
		add("Content-Length", strconv.Itoa(bodyLen))
	}
	slices.SortFunc(fields, func(a, b headerField) int { return strings.Compare(a.name, b.name) })
	return fields, size
}
