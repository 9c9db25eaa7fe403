package api

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/app"
)

// authenticate turns the request's "Authorization: Bearer <token>" header
// into an actor. On failure it sets WWW-Authenticate as RFC 6750 asks: with
// error="invalid_token" when a credential was presented and refused, and
// without it when there was none, so that clients know whether to prompt
// for a token or for a new one.
func (s *server) authenticate(w http.ResponseWriter, r *http.Request) (app.Actor, error) {
	header := r.Header.Get("Authorization")
	if header == "" {
		// The app's message explains where a token comes from.
		_, err := s.app.Accounts.Authenticate(r.Context(), "")
		return app.Actor{}, unauthorizedOr(err, "no API token given")
	}
	refused := func(err error) (app.Actor, error) {
		if rampart.ErrorCode(err) == rampart.EUNAUTHORIZED {
			w.Header().Set("WWW-Authenticate", `Bearer realm="rampart", error="invalid_token"`)
		}
		return app.Actor{}, err
	}
	scheme, token, _ := strings.Cut(strings.TrimSpace(header), " ")
	token = strings.TrimSpace(token)
	if msg := malformed(scheme, token); msg != "" {
		return refused(rampart.Errorf(rampart.EUNAUTHORIZED,
			`%s: send "Authorization: Bearer <token>", e.g. curl -H "Authorization: Bearer $RAMPART_TOKEN"`, msg))
	}
	u, err := s.app.Accounts.Authenticate(r.Context(), token)
	if rampart.ErrorCode(err) == rampart.ENOTFOUND {
		// The token exists but its user was deleted: that is a bad
		// credential, not a missing resource.
		err = rampart.Errorf(rampart.EUNAUTHORIZED, "the account this API token belongs to no longer exists: log in with another account")
	}
	if err != nil {
		return refused(err)
	}
	return app.UserActor(u, s.clientIP(r)), nil
}

// bearerToken is the token of a request that authenticate accepted.
func bearerToken(r *http.Request) string {
	_, token, _ := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	return strings.TrimSpace(token)
}

// unauthorizedOr makes sure a refusal is EUNAUTHORIZED even if the app did
// not say so, since the request really has no credential.
func unauthorizedOr(err error, fallback string) error {
	if rampart.ErrorCode(err) == rampart.EUNAUTHORIZED {
		return err
	}
	return rampart.Errorf(rampart.EUNAUTHORIZED, "%s", fallback)
}

// malformed says what is wrong with an Authorization header, or "" if it
// has the Bearer form. It never repeats the credential, which may be a
// secret that should not end up in a terminal's scrollback or a log.
func malformed(scheme, credential string) string {
	switch {
	case strings.EqualFold(scheme, "Bearer") && credential == "":
		return "the Authorization header has no token after \"Bearer\""
	case strings.EqualFold(scheme, "Bearer"):
		return ""
	case credential == "":
		return "the Authorization header has no scheme"
	case len(scheme) <= 20 && isToken(scheme):
		return fmt.Sprintf("the Authorization header uses the %q scheme, which the API does not accept", scheme)
	}
	return "the Authorization header is not of the form \"Bearer <token>\""
}

// isToken reports whether s looks like an HTTP auth scheme name, so that it
// is safe to quote back.
func isToken(s string) bool {
	for _, c := range s {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return s != ""
}
