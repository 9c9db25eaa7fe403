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

// AuditFilter narrows a read of the audit log. The zero value lists
// everything, newest first.
type AuditFilter struct {
	// VisibleTo, when non-zero, keeps only events a member may read: those
	// the user did and those on services the user owned at the time. The
	// service layer sets it from the caller.
	VisibleTo int64
	Service   string // only events on this service name
	BeforeID  int64  // paging: only events with ID < BeforeID
	Limit     int    // 0: DefaultAuditLimit; at most MaxAuditLimit
}

// Audit paging bounds.
const (
	DefaultAuditLimit = 100
	MaxAuditLimit     = 1000
)

// AuditList is the answer to GET /audit: events newest first. NextBefore,
// when set, is the value of the "before" parameter that fetches the next
// (older) page; it is omitted when this page is the last.
type AuditList struct {
	Events     []*AuditEvent `json:"events"`
	NextBefore int64         `json:"next_before,omitempty"`
}
