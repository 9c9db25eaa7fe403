package certs

import (
	"net"
	"net/http"
	"strconv"

	"github.com/caddyserver/certmagic"
)

// HTTPHandler wraps the handler of the edge's plain-HTTP listener:
//
//   - ACME HTTP-01 validation requests for managed domains are answered
//     (only while that challenge is in progress, and only for listed
//     names, so a flood of /.well-known/acme-challenge/ requests for
//     other hosts costs nothing);
//   - any other request for a host that has a certificate right now is
//     redirected to HTTPS with 308 (method and body preserved);
//   - everything else goes to next: hosts whose certificate is still
//     being obtained, hosts with mode off, unknown hosts.
func (m *Manager) HTTPHandler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := hostname(r.Host)
		if certmagic.LooksLikeHTTPChallenge(r) {
			if d := (*m.table.Load())[host]; d != nil && d.mode == ModeManaged && m.acmeIss.HandleHTTPChallenge(w, r) {
				return
			}
		}
		if m.HasCertificate(host) {
			m.redirect(w, r, host)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (m *Manager) redirect(w http.ResponseWriter, r *http.Request, host string) {
	target := host
	if net.ParseIP(host) != nil && net.ParseIP(host).To4() == nil {
		target = "[" + host + "]"
	}
	if p := m.cfg.RedirectPort; p != 0 && p != 443 {
		target = net.JoinHostPort(host, strconv.Itoa(p))
	}
	u := "https://" + target + r.URL.RequestURI()
	w.Header().Set("Location", u)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusPermanentRedirect)
}
