package web

import "net/http"

// contentSecurityPolicy allows only this origin's own scripts and styles: no
// inline script, no eval, no inline style attributes. htmx is configured (in
// layout.html's htmx-config meta) not to inject its indicator styles and not
// to evaluate anything, so it runs under this policy as is.
const contentSecurityPolicy = "default-src 'none'; " +
	"script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// secureHeaders sets the headers every dashboard response carries. Pages are
// marked no-store because they show account data; static assets override
// Cache-Control with their own long-lived value.
func (s *server) secureHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=(), usb=()")
		h.Set("Cache-Control", "no-store")
		if s.cfg.SecureCookies {
			// Only sent over HTTPS, where it is honoured. No includeSubDomains:
			// the admin host's siblings are other people's business.
			h.Set("Strict-Transport-Security", "max-age=63072000")
		}
		next.ServeHTTP(w, r)
	})
}
