package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/app"
)

// The firewall belongs to the node, which every tenant shares: the service
// layer answers members with 403 on every one of these.

func (s *server) getFirewall(w http.ResponseWriter, r *http.Request, actor app.Actor) error {
	st, err := s.app.Firewall.Get(r.Context(), actor)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, st)
	return nil
}

func (s *server) listFirewallRules(w http.ResponseWriter, r *http.Request, actor app.Actor) error {
	list, err := s.app.Firewall.List(r.Context(), actor)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rampart.FirewallRuleList{Rules: list})
	return nil
}

func (s *server) addFirewallRule(w http.ResponseWriter, r *http.Request, actor app.Actor) error {
	var in rampart.FirewallRuleInput
	if err := decodeBody(w, r, &in); err != nil {
		return err
	}
	res, err := s.app.Firewall.Add(r.Context(), actor, in)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/v1/firewall/rules/"+strconv.FormatInt(res.Rule.ID, 10))
	writeJSON(w, http.StatusCreated, res)
	return nil
}

func (s *server) updateFirewallRule(w http.ResponseWriter, r *http.Request, actor app.Actor) error {
	id, err := ruleID(r)
	if err != nil {
		return err
	}
	var in rampart.FirewallRulePatch
	if err := decodeBody(w, r, &in); err != nil {
		return err
	}
	res, err := s.app.Firewall.Update(r.Context(), actor, id, in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

// removeFirewallRule takes force and confirm_within as query parameters:
// a DELETE has no body.
func (s *server) removeFirewallRule(w http.ResponseWriter, r *http.Request, actor app.Actor) error {
	id, err := ruleID(r)
	if err != nil {
		return err
	}
	var ch rampart.FirewallChange
	q := r.URL.Query()
	if v := q.Get("force"); v != "" {
		if ch.Force, err = strconv.ParseBool(v); err != nil {
			return rampart.FieldError("force", rampart.Errorf(rampart.EINVALID, "force=%q: use true or false", v))
		}
	}
	if v := q.Get("confirm_within"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return rampart.FieldError("confirm_within", rampart.Errorf(rampart.EINVALID, "confirm_within=%q is not a duration: use text like 60s", v))
		}
		ch.ConfirmWithin = rampart.Duration(d)
	}
	p, err := s.app.Firewall.Remove(r.Context(), actor, id, ch)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rampart.FirewallRuleResult{Pending: p})
	return nil
}

func (s *server) setFirewallToolPort(w http.ResponseWriter, r *http.Request, actor app.Actor) error {
	port, err := strconv.Atoi(r.PathValue("port"))
	if err != nil {
		return rampart.Errorf(rampart.ENOTFOUND, "tool port %q not found: give its number, e.g. 4242", r.PathValue("port"))
	}
	var in rampart.FirewallToolPortInput
	if err := decodeBody(w, r, &in); err != nil {
		return err
	}
	res, err := s.app.Firewall.SetToolPort(r.Context(), actor, port, in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

// applyFirewall takes an optional body: an empty POST re-applies.
func (s *server) applyFirewall(w http.ResponseWriter, r *http.Request, actor app.Actor) error {
	var in rampart.FirewallApplyInput
	if r.ContentLength != 0 {
		if err := decodeBody(w, r, &in); err != nil {
			return err
		}
	}
	st, err := s.app.Firewall.Apply(r.Context(), actor, in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, st)
	return nil
}

func (s *server) confirmFirewall(w http.ResponseWriter, r *http.Request, actor app.Actor) error {
	if err := s.app.Firewall.Confirm(r.Context(), actor); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func ruleID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, rampart.Errorf(rampart.ENOTFOUND, "firewall rule %q not found: rules are named by their number (rampart firewall list)", r.PathValue("id"))
	}
	return id, nil
}
