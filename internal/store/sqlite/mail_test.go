package sqlite_test

import (
	"fmt"
	"testing"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/store/sqlite/sqlitetest"
)

// BenchmarkAddMailMessages measures the relay's log path: batches of 100
// rows for one service, pruning included once the log is full.
func BenchmarkAddMailMessages(b *testing.B) {
	db := sqlitetest.Open(b)
	ctx := b.Context()
	u := &rampart.User{Email: "ada@example.com", Role: rampart.RoleMember, PasswordHash: "x"}
	if err := db.CreateUser(ctx, u); err != nil {
		b.Fatal(err)
	}
	svc := &rampart.Service{Name: "blog", OwnerID: u.ID, Upstreams: []string{"http://127.0.0.1:1"}, State: rampart.StateActive}
	if err := db.CreateService(ctx, svc); err != nil {
		b.Fatal(err)
	}
	n := 0
	for b.Loop() {
		batch := make([]*rampart.MailMessage, 100)
		for i := range batch {
			n++
			batch[i] = &rampart.MailMessage{QueueID: fmt.Sprint("q", n), ServiceID: svc.ID, From: "blog@mail.example.com", Size: 2048, Status: rampart.MailQueued,
				Recipients: []rampart.MailRecipient{{Addr: "a@example.org", Status: rampart.MailQueued}}}
		}
		if err := db.AddMailMessages(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/msg")
}
