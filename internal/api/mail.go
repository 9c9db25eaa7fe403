package api

import (
	"net/http"
	"strconv"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/app"
)

// The SMTP relay's control plane. Owners read their services' settings and
// log and get their SMTP login; quotas, suspensions and the DNS records are
// admins' (the service layer says so to anyone else).

func (s *server) getMail(w http.ResponseWriter, r *http.Request, actor app.Actor) error {
	st, err := s.app.Mail.Settings(r.Context(), actor, r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, st)
	return nil
}

// mailCredentials answers 201 when it made a password (the only time it is
// shown) and 200 when it only repeats the login.
func (s *server) mailCredentials(w http.ResponseWriter, r *http.Request, actor app.Actor) error {
	var in rampart.MailCredentialsInput // the body is optional
	if r.ContentLength != 0 {
		if err := decodeBody(w, r, &in); err != nil {
			return err
		}
	}
	creds, isNew, err := s.app.Mail.Credentials(r.Context(), actor, r.PathValue("name"), in.Rotate)
	if err != nil {
		return err
	}
	code := http.StatusOK
	if isNew {
		code = http.StatusCreated
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, code, creds)
	return nil
}

func (s *server) suspendMail(w http.ResponseWriter, r *http.Request, actor app.Actor) error {
	var in rampart.MailSuspendInput // the body is optional
	if r.ContentLength != 0 {
		if err := decodeBody(w, r, &in); err != nil {
			return err
		}
	}
	if err := s.app.Mail.Suspend(r.Context(), actor, r.PathValue("name"), in.Reason); err != nil {
		return err
	}
	return s.getMail(w, r, actor)
}

func (s *server) resumeMail(w http.ResponseWriter, r *http.Request, actor app.Actor) error {
	if err := s.app.Mail.Resume(r.Context(), actor, r.PathValue("name")); err != nil {
		return err
	}
	return s.getMail(w, r, actor)
}

func (s *server) setMailQuota(w http.ResponseWriter, r *http.Request, actor app.Actor) error {
	var in rampart.MailQuotaInput
	if err := decodeBody(w, r, &in); err != nil {
		return err
	}
	if in.PerHour == nil {
		return &rampart.Error{Code: rampart.EINVALID, Field: "per_hour", Message: `give "per_hour": the recipients per hour the service may send, or 0 for the default`}
	}
	if err := s.app.Mail.SetQuota(r.Context(), actor, r.PathValue("name"), *in.PerHour); err != nil {
		return err
	}
	return s.getMail(w, r, actor)
}

// mailLogParams are the query parameters GET …/mail/messages accepts.
var mailLogParams = []string{"after", "limit"}

// parseMailLogQuery reads after and limit; 0 means absent (the newest
// messages; the default page). The service layer bounds limit.
func parseMailLogQuery(r *http.Request) (after int64, limit int, err error) {
	v := r.URL.Query()
	if err := checkQuery(v, mailLogParams); err != nil {
		return 0, 0, err
	}
	if a, ok := v["after"]; ok {
		if after, err = strconv.ParseInt(a[0], 10, 64); err != nil || after < 0 {
			return 0, 0, invalid("after=%q is not a message ID: give the id of the last message seen, e.g. after=120", a[0])
		}
	}
	if l, ok := v["limit"]; ok {
		if limit, err = strconv.Atoi(l[0]); err != nil || limit < 1 || limit > app.MaxMailLogLimit {
			return 0, 0, invalid("limit=%q is not a number of messages from 1 to %d", l[0], app.MaxMailLogLimit)
		}
	}
	return after, limit, nil
}

func (s *server) listMailMessages(w http.ResponseWriter, r *http.Request, actor app.Actor) error {
	after, limit, err := parseMailLogQuery(r)
	if err != nil {
		return err
	}
	list, err := s.app.Mail.Log(r.Context(), actor, r.PathValue("name"), after, limit)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rampart.MailMessageList{Messages: list})
	return nil
}

func (s *server) mailDNS(w http.ResponseWriter, r *http.Request, actor app.Actor) error {
	recs, err := s.app.Mail.DNS(r.Context(), actor)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rampart.MailDNSList{Records: recs})
	return nil
}

func (s *server) mailFlush(w http.ResponseWriter, r *http.Request, actor app.Actor) error {
	q, err := s.app.Mail.Flush(r.Context(), actor)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, q)
	return nil
}
