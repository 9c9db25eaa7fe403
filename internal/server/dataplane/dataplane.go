// Package dataplane adapts the data plane (the edge's request log, the
// certificate manager's upload check) to the narrow interfaces the service
// layer declares (rampart.LogSource, app.Options.CheckKeyPair), so that
// internal/app imports neither. It is its own package, and does not import
// internal/app, so that app's own tests can use the real edge log through
// it too.
package dataplane

import (
	"errors"
	"strconv"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/certs"
	"github.com/rampart-dev/rampart/internal/edge"
	"github.com/rampart-dev/rampart/internal/edge/logtail"
)

// rampart.MaxLogTail promises all the edge keeps of a service: the two
// constants must agree, and the build fails when they do not.
var (
	_ [rampart.MaxLogTail - logtail.DefaultPerService]struct{}
	_ [logtail.DefaultPerService - rampart.MaxLogTail]struct{}
)

// Logs returns l as the service layer reads it; nil for nil, a process
// without an edge.
func Logs(l *logtail.Log) rampart.LogSource {
	if l == nil {
		return nil
	}
	return logSource{l}
}

type logSource struct{ l *logtail.Log }

func (s logSource) Snapshot(sc rampart.LogScope) rampart.LogSubscription {
	return subscription{s.l.Snapshot(logtail.Scope(sc))}
}

func (s logSource) Subscribe(sc rampart.LogScope) (rampart.LogSubscription, error) {
	sub, err := s.l.Subscribe(logtail.Scope(sc))
	switch {
	case errors.Is(err, logtail.ErrTooMany):
		return nil, rampart.Errorf(rampart.ETOOMANY, "%d live log streams are open on this server, the most it keeps: close one (a `rampart logs -f` or a dashboard Logs tab) and try again", logtail.DefaultMaxSubscribers)
	case errors.Is(err, logtail.ErrClosed):
		return nil, rampart.ErrLogsClosed
	case err != nil:
		return nil, err
	}
	return subscription{sub}, nil
}

// subscription is a logtail.Subscription whose scope is the root
// package's.
type subscription struct{ *logtail.Subscription }

func (s subscription) SetScope(sc rampart.LogScope) { s.Subscription.SetScope(logtail.Scope(sc)) }

func (s subscription) Backlog(n int) []rampart.LogEntry { return logEntries(s.Subscription.Backlog(n)) }

func (s subscription) Read(max int) ([]rampart.LogEntry, int) {
	es, dropped := s.Subscription.Read(max)
	return logEntries(es), dropped
}

// logEntries turns the edge's entries into the API's. The edge keeps its
// own type so that it knows nothing of the domain types.
func logEntries(es []edge.LogEntry) []rampart.LogEntry {
	if es == nil {
		return nil
	}
	out := make([]rampart.LogEntry, len(es))
	for i, e := range es {
		out[i] = rampart.LogEntry{
			Time: e.Time, Service: e.Service, Host: e.Host, Method: e.Method, Path: e.Path,
			Status: e.Status, Bytes: e.Bytes, Duration: rampart.Duration(e.Duration),
			Upstream: e.Upstream, RequestID: e.RequestID, Cache: e.Cache, Limited: e.Limited, Error: e.Error,
			Source: e.Source, Stream: e.Stream, Message: e.Message,
		}
		if e.ClientIP.IsValid() {
			out[i].ClientIP = e.ClientIP.String()
		}
		// The routes reconciler names services by their decimal store
		// ID (agent.RouteID); an edge fed otherwise leaves this 0.
		out[i].ServiceID, _ = strconv.ParseInt(e.ServiceID, 10, 64)
	}
	return out
}

// CheckKeyPair checks an uploaded certificate and key for name the way
// the certificate manager will load them.
func CheckKeyPair(name string, certPEM, keyPEM []byte) error {
	_, err := certs.ParseCustom(name, certPEM, keyPEM)
	return err
}
