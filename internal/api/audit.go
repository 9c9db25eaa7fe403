package api

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/app"
)

// auditParams are the query parameters GET /audit accepts. Others are
// refused, so that a misspelt filter does not silently return everything.
var auditParams = []string{"service", "before", "limit"}

func (s *server) listAudit(w http.ResponseWriter, r *http.Request, actor app.Actor) error {
	f, err := parseAuditQuery(r)
	if err != nil {
		return err
	}
	events, err := s.app.Audit.List(r.Context(), actor, f)
	if err != nil {
		return err
	}
	out := rampart.AuditList{Events: events}
	if out.Events == nil {
		out.Events = []*rampart.AuditEvent{}
	}
	limit := f.Limit
	if limit == 0 {
		limit = rampart.DefaultAuditLimit
	}
	if n := len(events); n > 0 && n >= limit {
		out.NextBefore = events[n-1].ID
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func parseAuditQuery(r *http.Request) (rampart.AuditFilter, error) {
	var f rampart.AuditFilter
	q := r.URL.Query()
	if err := checkQuery(q, auditParams); err != nil {
		return f, err
	}
	if name := q.Get("service"); name != "" {
		if err := rampart.ValidateServiceName(name); err != nil {
			return f, err
		}
		f.Service = name
	}
	if v := q.Get("before"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			return f, invalid("before=%q is not an event id: use a positive integer, e.g. the next_before of the previous page", v)
		}
		f.BeforeID = n
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > rampart.MaxAuditLimit {
			return f, invalid("limit=%q is out of range: use 1 to %d", v, rampart.MaxAuditLimit)
		}
		f.Limit = n
	}
	return f, nil
}

// checkQuery refuses query parameters an endpoint does not know (naming the
// likely one meant) and parameters given twice, so that a typo in a
// script is an error rather than a silently ignored filter.
func checkQuery(q url.Values, known []string) error {
	for k := range q {
		if !slices.Contains(known, k) {
			if s := suggest(k, known); s != "" {
				return invalid("unknown query parameter %q: did you mean %q?", k, s)
			}
			return invalid("unknown query parameter %q: use %s", k, strings.Join(quoteAll(known), ", "))
		}
		if len(q[k]) > 1 {
			return invalid("query parameter %q is given %d times: give it once", k, len(q[k]))
		}
	}
	return nil
}
