package web

import (
	"net/http"
	"strconv"

	"github.com/rampart-dev/rampart"
)

// auditPageSize is how many events one page of the audit log shows.
const auditPageSize = 50

// auditPage is the data of audit.html.
type auditPage struct {
	base
	Events   []*rampart.AuditEvent
	BeforeID int64 // the page shown starts below this ID; 0 for the newest
	NextID   int64 // "older" link; 0 when this is the last page
}

// auditPage lists the audit log, newest first. Admins see everything;
// members see what the service layer lets them: their own actions and
// events on services they owned.
func (s *server) auditPage(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	d := auditPage{base: rc.base("Audit log", "audit")}
	if v := r.URL.Query().Get("before"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			s.showError(w, r, rc, http.StatusBadRequest, "Bad page link", "The audit log link is malformed: start again from the newest events.")
			return
		}
		d.BeforeID = n
	}
	// One more than a page tells whether an older page exists.
	evs, err := s.app.Audit.List(r.Context(), rc.actor, rampart.AuditFilter{BeforeID: d.BeforeID, Limit: auditPageSize + 1})
	if err != nil {
		s.fail(w, r, rc, err)
		return
	}
	if len(evs) > auditPageSize {
		evs = evs[:auditPageSize]
		d.NextID = evs[len(evs)-1].ID
	}
	d.Events = evs
	s.render(w, r, http.StatusOK, "audit", d)
}
