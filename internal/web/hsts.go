package web

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/rampart-dev/rampart"
)

// The HSTS options of the Security tab's SSL/TLS row, in the shape of the
// rate limiter's and the output cache's (see handlers_security.go).

// hstsForm is the HSTS options form; MaxAge holds the text as typed.
type hstsForm struct {
	Open              bool
	Enabled           bool
	MaxAge            string
	IncludeSubDomains bool
	Preload           bool
	MaxAgeErr         string
	PreloadErr        string
	Err               string
}

func hstsFormOf(h rampart.HSTS) hstsForm {
	return hstsForm{Enabled: h.Enabled, MaxAge: hstsAgeText(h.MaxAge), IncludeSubDomains: h.IncludeSubDomains, Preload: h.Preload}
}

// hstsAgeText writes a max-age the way the form reads it back: whole years
// or days where it is one, seconds otherwise.
func hstsAgeText(secs int64) string {
	const day = 86400
	switch {
	case secs > 0 && secs%(365*day) == 0:
		return strconv.FormatInt(secs/(365*day), 10) + "y"
	case secs > 0 && secs%day == 0:
		return strconv.FormatInt(secs/day, 10) + "d"
	default:
		return strconv.FormatInt(secs, 10)
	}
}

// hstsAgeWords says a max-age for people: "1 year", "180 days".
func hstsAgeWords(secs int64) string {
	const day = 86400
	switch {
	case secs > 0 && secs%(365*day) == 0:
		return plural64(secs/(365*day), "year")
	case secs > 0 && secs%day == 0:
		return plural64(secs/day, "day")
	default:
		return plural64(secs, "second")
	}
}

// hstsWords is the HSTS setting as the SSL/TLS row states it.
func hstsWords(h rampart.HSTS) string {
	if !h.Enabled {
		return "HSTS off"
	}
	if h.MaxAge == 0 {
		return "HSTS on with max-age 0: browsers are told to forget it"
	}
	w := "HSTS on: browsers keep to HTTPS for " + hstsAgeWords(h.MaxAge)
	if h.IncludeSubDomains {
		w += ", subdomains included"
	}
	if h.Preload {
		w += ", preload"
	}
	return w
}

func (s *server) saveHSTS(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	// Look the service up first so that a member probing someone else's
	// service gets a 404 whatever the form holds.
	svc, err := s.app.Services.Get(r.Context(), rc.actor, r.PathValue("name"))
	if err != nil {
		s.fail(w, r, rc, err)
		return
	}
	f := hstsForm{
		Open:              true,
		Enabled:           r.PostFormValue("enabled") != "",
		MaxAge:            strings.TrimSpace(r.PostFormValue("max_age")),
		IncludeSubDomains: r.PostFormValue("include_subdomains") != "",
		Preload:           r.PostFormValue("preload") != "",
	}
	h := rampart.HSTS{Enabled: f.Enabled, IncludeSubDomains: f.IncludeSubDomains, Preload: f.Preload}
	if h.MaxAge, err = rampart.ParseHSTSMaxAge(f.MaxAge); err != nil {
		f.MaxAgeErr = rampart.ErrorMessage(err)
		s.renderSecurity(w, r, rc, svc, http.StatusUnprocessableEntity, func(d *servicePage) { d.HSTS = f })
		return
	}
	saved := "HSTS off: applies at once. Browsers that saw the header keep to HTTPS until their max-age runs out."
	if h.Enabled {
		saved = "HSTS saved: HTTPS responses carry Strict-Transport-Security: " + h.Header() + "."
	}
	status, msgs, ok := s.saveSetting(w, r, rc, svc, rampart.ServiceUpdate{Name: svc.Name, HSTS: &h}, saved)
	if ok {
		return
	}
	f.MaxAgeErr, f.PreloadErr, f.Err = msgs["hsts.max_age"], msgs["hsts.preload"], otherMessages(msgs, "hsts.max_age", "hsts.preload")
	s.renderSecurity(w, r, rc, svc, status, func(d *servicePage) { d.HSTS = f })
}
