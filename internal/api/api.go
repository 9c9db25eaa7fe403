// Package api is rampart's REST API under /api/v1: JSON in and out, bearer
// tokens for authentication, and an OpenAPI document served at
// /api/v1/openapi.json. It is a thin layer over the service layer
// (internal/app): it parses requests, turns the caller's token into an
// app.Actor, and maps rampart error codes to HTTP statuses once, in
// errors.go. Everything it does is listed in one route table (routes.go)
// that both the mux and the OpenAPI consistency test read, so the document
// and the handlers cannot drift apart unnoticed.
//
// Decisions a client can rely on:
//   - Input that breaks a rule is 400 (code "invalid"), not 422: the API
//     does not distinguish malformed JSON from well-formed but wrong input,
//     because the message already says which it is.
//   - A member asking for another tenant's service gets 404, never 403, so
//     service names do not leak between tenants.
//   - Request bodies must be a single JSON object with Content-Type
//     application/json, at most 1 MiB, with no unknown fields.
//   - Responses are never cached (Cache-Control: no-store).
//   - There is no CORS: the API is for the CLI and scripts; browsers use the
//     dashboard, which has its own session and CSRF protection.
package api

import (
	"log/slog"
	"net"
	"net/http"
	"strings"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/app"
)

// MaxBodyBytes bounds request bodies. Every request the API accepts is a
// small object; the bound keeps a misbehaving client from filling memory.
const MaxBodyBytes = 1 << 20

// Options configure the API handler. The zero value works for tests and the
// demo; a real deployment sets PlatformDomain.
type Options struct {
	// Logger receives internal errors (with a request id that the client
	// also sees). Default slog.Default().
	Logger *slog.Logger
	// PlatformDomain is the domain under which every service gets its
	// hostname <name>.<PlatformDomain>. Default "localhost", the demo's.
	PlatformDomain string
	// ClientIP returns the address recorded in the audit log for a request.
	// The default is the host part of r.RemoteAddr; a deployment behind a
	// trusted reverse proxy replaces it with one that reads the proxy's
	// header, which is only safe when the proxy is known.
	ClientIP func(r *http.Request) string
	// EdgeHTTPPort is the port of the edge's HTTP listener, which the
	// services' URLs carry unless it is 80. Default 80.
	EdgeHTTPPort int
}

// server holds what the handlers share.
type server struct {
	app      *app.App
	log      *slog.Logger
	domain   string
	httpPort int
	clientIP func(*http.Request) string
}

// New returns the API handler for a. It serves paths under rampart.APIPrefix and
// answers JSON everywhere, including for unknown paths (404) and wrong
// methods (405 with an Allow header).
func New(a *app.App, opts Options) http.Handler {
	s := &server{app: a, log: opts.Logger, domain: opts.PlatformDomain, httpPort: opts.EdgeHTTPPort, clientIP: opts.ClientIP}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.domain == "" {
		s.domain = "localhost"
	}
	if s.clientIP == nil {
		s.clientIP = remoteHost
	}

	mux := http.NewServeMux()
	allowed := map[string][]string{} // path pattern → methods, for 405s
	for _, rt := range routeTable {
		mux.Handle(rt.Method+" "+rt.Path, s.wrap(rt))
		allowed[rt.Path] = append(allowed[rt.Path], rt.Method)
	}
	// A pattern without a method is less specific than the same path with
	// one, so these only see requests whose method no route accepts.
	for path, methods := range allowed {
		mux.Handle(path, s.methodNotAllowed(methods))
	}
	mux.Handle(rampart.APIPrefix, http.HandlerFunc(s.notFound))

	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		// Answers carry account data; no proxy or browser should keep them.
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		mux.ServeHTTP(w, r)
	})
}

// wrap turns a route into a handler: it authenticates the caller (unless the
// route is public) and writes any returned error as JSON.
func (s *server) wrap(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var actor app.Actor
		if !rt.Public {
			var err error
			if actor, err = s.authenticate(w, r); err != nil {
				s.writeError(w, r, err)
				return
			}
		}
		if err := rt.handle(s, w, r, actor); err != nil {
			s.writeError(w, r, err)
		}
	})
}

func (s *server) notFound(w http.ResponseWriter, r *http.Request) {
	s.writeError(w, r, &httpError{
		status: http.StatusNotFound,
		code:   rampart.CodeNotFound,
		msg:    "no API endpoint " + r.Method + " " + r.URL.Path + ": see " + rampart.APIPrefix + "openapi.json for the list",
	})
}

func (s *server) methodNotAllowed(methods []string) http.Handler {
	allow := append([]string(nil), methods...)
	for _, m := range methods {
		if m == http.MethodGet {
			allow = append(allow, http.MethodHead) // the mux answers HEAD with GET handlers
		}
	}
	list := strings.Join(allow, ", ")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", list)
		s.writeError(w, r, &httpError{
			status: http.StatusMethodNotAllowed,
			code:   rampart.CodeMethodNotAllowed,
			msg:    "method " + r.Method + " is not allowed on " + r.URL.Path + ": use " + list,
		})
	})
}

// remoteHost is the default ClientIP: the peer's address without its port.
func remoteHost(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
