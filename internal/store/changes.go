package store

import (
	"context"
	"sync"
)

// Kind names a kind of desired state that reconcilers watch. Each kind has
// its own revision, so that a reconciler wakes only for the changes it acts
// on: the routes reconciler for services and domains, the certificate
// reconciler for domains, the firewall's for its rules.
type Kind string

// The kinds of desired state.
const (
	// KindServices: services and every setting on them (upstreams, state,
	// rate limiter, output cache, environment).
	KindServices Kind = "services"
	// KindDomains: the custom domains of services, with their TLS modes
	// and uploaded certificates (not their observed states).
	KindDomains Kind = "domains"
	// KindFirewall: the nodes' firewall rules, confirm windows and
	// suspensions (not their observed status).
	KindFirewall Kind = "firewall"
	// KindSSHKeys: the SSH keys of each node's authorized_keys.
	KindSSHKeys Kind = "ssh_keys"
	// KindMail: services' mail settings (SMTP logins, quotas,
	// suspensions), which the relay's reconciler applies; not the mail
	// log or the violations.
	KindMail Kind = "mail"
)

// Kinds lists every kind, for tests and for stores that set up one counter
// per kind.
var Kinds = []Kind{KindServices, KindDomains, KindFirewall, KindSSHKeys, KindMail}

// Changes tells reconcilers that desired state changed.
//
// Revision is the source of truth: a number per kind that every committed
// change of that kind moves, read from the database itself, so that a
// change made by another process (a second server, an operator command) is
// seen by polling it. Subscribe is the fast path: a store delivers a
// notice right after it commits a change of one of the kinds, in this
// process (SQLite) or from any process (PostgreSQL's LISTEN/NOTIFY can
// drive the same Notifier). Notices coalesce and may be spurious, so a
// subscriber re-reads what it cares about; observed state (statuses)
// never moves a revision, or every reconciler pass would wake the others.
type Changes interface {
	// Revision returns the current revision of kind.
	Revision(ctx context.Context, kind Kind) (int64, error)
	// Subscribe returns a channel that receives after each committed
	// change of any of kinds, and a function that ends the subscription.
	Subscribe(kinds ...Kind) (<-chan struct{}, func())
}

// Notifier fans change notices out to subscribers. Its zero value is ready
// to use; stores embed one to implement Changes.Subscribe.
type Notifier struct {
	mu   sync.Mutex
	subs map[*subscription]struct{}
}

type subscription struct {
	kinds []Kind
	ch    chan struct{}
}

// Subscribe implements Changes.Subscribe.
func (n *Notifier) Subscribe(kinds ...Kind) (<-chan struct{}, func()) {
	s := &subscription{kinds: append([]Kind(nil), kinds...), ch: make(chan struct{}, 1)}
	n.mu.Lock()
	if n.subs == nil {
		n.subs = map[*subscription]struct{}{}
	}
	n.subs[s] = struct{}{}
	n.mu.Unlock()
	var once sync.Once
	return s.ch, func() {
		once.Do(func() {
			n.mu.Lock()
			delete(n.subs, s)
			n.mu.Unlock()
		})
	}
}

// Notify tells the subscribers of any of kinds. It never blocks: a
// subscriber that has not taken its last notice yet gets no second one.
func (n *Notifier) Notify(kinds ...Kind) {
	if len(kinds) == 0 {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	for s := range n.subs {
		if !s.wants(kinds) {
			continue
		}
		select {
		case s.ch <- struct{}{}:
		default:
		}
	}
}

func (s *subscription) wants(kinds []Kind) bool {
	for _, k := range kinds {
		for _, w := range s.kinds {
			if k == w {
				return true
			}
		}
	}
	return false
}
