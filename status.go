package rampart

import "time"

// Status is what the machine did with an object's desired state, as
// opposed to the desired state itself: Kubernetes' spec/status split.
// Only reconcilers write it; people read it on the Overview tab, in
// `rampart service show` and in the API.
//
// Each reconciler that acts on an object reports one Condition (the edge's
// routing today; the firewall, the runtime and the mail relay later), so
// that one of them can never overwrite what another found.
type Status struct {
	// State sums the conditions up: error when any has failed, pending
	// while none has reported yet, ok otherwise.
	State StatusState `json:"state"`
	// Conditions are sorted by Type.
	Conditions []Condition `json:"conditions"`
}

// StatusState is the summary of an object's conditions.
type StatusState string

const (
	// StatusPending: no reconciler has reported on the object yet.
	StatusPending StatusState = "pending"
	// StatusOK: every reconciler applied the object's desired state.
	StatusOK StatusState = "ok"
	// StatusError: a reconciler refused or failed to apply it; the
	// condition's Message says why.
	StatusError StatusState = "error"
)

// Condition types, one per reconciler that reports on services.
const (
	// ConditionRouting: the edge's routing table (upstreams, rate limiter,
	// output cache, host names).
	ConditionRouting = "routing"
	// ConditionRuntime: the runtime that runs the service (exec,
	// compose): not OK while it crash-loops or cannot start.
	ConditionRuntime = "runtime"
)

// Condition is one reconciler's report on one object.
type Condition struct {
	Type string `json:"type"`
	// OK is false when the reconciler could not apply the object.
	OK bool `json:"ok"`
	// Message says, when OK is false, what was refused and what to do.
	Message string `json:"message,omitempty"`
	// Revision is the store's revision of the object's kind that the
	// reconciler applied (see store.Kind).
	Revision  int64     `json:"revision"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Failed returns the first condition that is not OK, or nil.
func (s Status) Failed() *Condition {
	for i := range s.Conditions {
		if !s.Conditions[i].OK {
			return &s.Conditions[i]
		}
	}
	return nil
}

// Condition returns the condition of type typ, or nil.
func (s Status) Condition(typ string) *Condition {
	for i := range s.Conditions {
		if s.Conditions[i].Type == typ {
			return &s.Conditions[i]
		}
	}
	return nil
}

// NewStatus sums conditions up into a Status.
func NewStatus(conds []Condition) Status {
	st := Status{State: StatusPending, Conditions: conds}
	if st.Conditions == nil {
		st.Conditions = []Condition{}
	}
	if len(conds) > 0 {
		st.State = StatusOK
	}
	if st.Failed() != nil {
		st.State = StatusError
	}
	return st
}
