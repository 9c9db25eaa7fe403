package rampart

import "time"

// AuditEvent records one change of desired state: who did what to which
// thing, when, and from where. Events are only ever appended.
type AuditEvent struct {
	ID      int64     `json:"id"`
	At      time.Time `json:"at"`
	ActorID int64     `json:"actor_id,omitempty"` // 0: the system or an operator command
	Actor   string    `json:"actor"`              // email, or "system" / "operator"
	IP      string    `json:"ip,omitempty"`
	Action  string    `json:"action"` // e.g. "service.create"
	// Service is the name of the service acted on, if any; with ServiceID
	// it lets owners read the history of their own services.
	Service   string `json:"service,omitempty"`
	ServiceID int64  `json:"-"`
	OwnerID   int64  `json:"-"` // owner of the service at the time, for member visibility
	Detail    string `json:"detail,omitempty"`
}
