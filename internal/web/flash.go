package web

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strings"

	"github.com/rampart-dev/rampart"
)

// A flash is a one-time message shown on the page after a redirect
// ("Service blog deleted."). It travels in a short-lived cookie signed with
// the session's CSRF token, a secret only this server and this session
// know, so another site or a service under the platform domain cannot plant
// a message that the dashboard would display as its own.
type flash struct {
	Kind    string // "success" or "error"
	Message string
}

const flashCookie = "rampart_flash"

func (s *server) setFlash(w http.ResponseWriter, sess *rampart.Session, kind, msg string) {
	payload := base64.RawURLEncoding.EncodeToString([]byte(kind + "\n" + msg))
	http.SetCookie(w, &http.Cookie{
		Name:     s.cookie(flashCookie),
		Value:    payload + "." + flashMAC(sess, payload),
		Path:     "/",
		MaxAge:   60,
		HttpOnly: true,
		Secure:   s.cfg.SecureCookies,
		SameSite: http.SameSiteLaxMode,
	})
}

// takeFlash returns the pending flash, if any, and clears it.
func (s *server) takeFlash(w http.ResponseWriter, r *http.Request, sess *rampart.Session) *flash {
	c, err := r.Cookie(s.cookie(flashCookie))
	if err != nil {
		return nil
	}
	s.clearCookie(w, flashCookie, "/")
	payload, mac, ok := strings.Cut(c.Value, ".")
	if !ok || !hmac.Equal([]byte(mac), []byte(flashMAC(sess, payload))) {
		return nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return nil
	}
	kind, msg, _ := strings.Cut(string(raw), "\n")
	if kind != "success" && kind != "error" {
		return nil
	}
	return &flash{Kind: kind, Message: msg}
}

func flashMAC(sess *rampart.Session, payload string) string {
	m := hmac.New(sha256.New, []byte("rampart flash\x00"+sess.CSRFToken))
	m.Write([]byte(payload))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}
