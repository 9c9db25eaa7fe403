package dataplane

import (
	"errors"
	"testing"
	"time"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/certs/internalca"
	"github.com/rampart-dev/rampart/internal/edge"
	"github.com/rampart-dev/rampart/internal/edge/logtail"
)

// The service layer decides a new domain's first state with
// rampart.IsInternalName; the internal CA certifies with its own rule. A
// name they disagree on would wait for an issuance that never comes.
func TestInternalNamesAgree(t *testing.T) {
	for _, name := range []string{
		"localhost", "shop.localhost", "a.test", "x.internal", "printer.local", "nas.home.arpa", "Shop.Localhost.",
		"example.com", "localhost.example.com", "test", "home.arpa.example", "xtest",
		"127.0.0.1", "10.1.2.3", "172.16.0.1", "172.32.0.1", "192.168.1.1", "100.64.0.1", "169.254.1.1",
		"::1", "fd00::1", "fe80::1", "8.8.8.8", "2001:db8::1", "::ffff:10.0.0.1",
	} {
		if got, want := rampart.IsInternalName(name), internalca.Permitted(name); got != want {
			t.Errorf("rampart.IsInternalName(%q) = %v, internalca.Permitted = %v", name, got, want)
		}
	}
}

func TestLogs(t *testing.T) {
	if Logs(nil) != nil {
		t.Error("Logs(nil) is not nil: a process without an edge would look as if it had one")
	}
	l := logtail.New(logtail.Options{MaxSubscribers: 1})
	src := Logs(l)
	l.Publish(edge.LogEntry{Time: time.Now(), Service: "blog", Host: "blog.localhost", Method: "GET", Path: "/a", Status: 200})
	snap := src.Snapshot(rampart.LogScope{Services: []string{"blog"}})
	defer snap.Close()
	if es := snap.Backlog(10); len(es) != 1 || es[0].Path != "/a" {
		t.Errorf("backlog = %+v", es)
	}
	sub, err := src.Subscribe(rampart.LogScope{All: true})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if _, err := src.Subscribe(rampart.LogScope{All: true}); rampart.ErrorCode(err) != rampart.ETOOMANY {
		t.Errorf("second follower = %v, want ETOOMANY", err)
	}
	sub.SetScope(rampart.LogScope{Services: []string{"shop"}})
	l.Publish(edge.LogEntry{Time: time.Now(), Service: "blog", Host: "blog.localhost", Method: "GET", Path: "/b", Status: 200})
	l.Publish(edge.LogEntry{Time: time.Now(), Service: "shop", Host: "shop.localhost", Method: "GET", Path: "/c", Status: 200})
	if es, _ := sub.Read(10); len(es) != 1 || es[0].Path != "/c" {
		t.Errorf("read after SetScope(shop) = %+v", es)
	}
	l.Close()
	if _, err := src.Subscribe(rampart.LogScope{All: true}); !errors.Is(err, rampart.ErrLogsClosed) {
		t.Errorf("after Close = %v, want rampart.ErrLogsClosed", err)
	}
}
