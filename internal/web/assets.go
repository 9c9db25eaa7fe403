package web

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed static
var staticFS embed.FS

// asset is one embedded static file, held in memory with a gzip copy so that
// serving it costs no compression per request.
type asset struct {
	body    []byte
	gz      []byte // nil when compression does not pay
	ctype   string
	version string // first 12 hex digits of the SHA-256 of body
}

// assets are the files under static/, addressed as /static/<version>/<name>.
// The version is the content hash, so a URL's bytes never change and
// browsers may cache them for a year; a new build yields new URLs.
type assets struct {
	files map[string]*asset
}

func loadAssets() (*assets, error) {
	as := &assets{files: map[string]*asset{}}
	err := fs.WalkDir(staticFS, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		name := strings.TrimPrefix(p, "static/")
		ext := path.Ext(name)
		if ext != ".css" && ext != ".js" && ext != ".svg" {
			return nil // licences and READMEs are for people reading the source
		}
		body, err := staticFS.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		a := &asset{body: body, ctype: mime.TypeByExtension(ext), version: hex.EncodeToString(sum[:6])}
		if a.ctype == "" {
			a.ctype = "application/octet-stream"
		}
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		_, _ = zw.Write(body)
		_ = zw.Close()
		if buf.Len() < len(body)*9/10 {
			a.gz = buf.Bytes()
		}
		as.files[name] = a
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("web: loading embedded assets: %w", err)
	}
	return as, nil
}

// url returns the versioned URL of a static file; templates call it as
// {{asset "app.css"}}. An unknown name is a bug in a template, caught when
// the templates are executed in tests.
func (as *assets) url(name string) (string, error) {
	a, ok := as.files[name]
	if !ok {
		return "", fmt.Errorf("no static file %q", name)
	}
	return "/static/" + a.version + "/" + name, nil
}

func (as *assets) serve(w http.ResponseWriter, r *http.Request) {
	a, ok := as.files[r.PathValue("file")]
	if !ok {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	if r.PathValue("version") == a.version {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		// A page from before an upgrade asks for an old version: give it the
		// current file, but do not let anything cache it under the old URL.
		h.Set("Cache-Control", "no-cache")
	}
	h.Set("Content-Type", a.ctype)
	h.Add("Vary", "Accept-Encoding")
	body, etag := a.body, a.version
	if a.gz != nil && acceptsGzip(r) {
		h.Set("Content-Encoding", "gzip")
		body, etag = a.gz, a.version+"-gz"
	}
	h.Set("ETag", `"`+etag+`"`)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		enc, q, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(enc), "gzip") && strings.ReplaceAll(q, " ", "") != "q=0" {
			return true
		}
	}
	return false
}
