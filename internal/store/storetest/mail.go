package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/store"
)

func testMailSettings(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := mustUser(t, s, "ada@example.com")
	blog := mustService(t, s, "blog", u.ID)
	shop := mustService(t, s, "shop", u.ID)

	st, err := s.MailState(ctx, blog.ID)
	if err != nil {
		t.Fatal(err)
	}
	if want := (store.MailState{ServiceID: blog.ID}); !sameMailState(*st, want) {
		t.Errorf("MailState of a fresh service = %+v, want the zero value", st)
	}
	_, err = s.MailState(ctx, 9999)
	wantCode(t, err, rampart.ENOTFOUND)

	rev0, err := s.Revision(ctx, store.KindMail)
	if err != nil {
		t.Fatal(err)
	}
	notices, stop := s.Subscribe(store.KindMail)
	defer stop()
	at := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	if err := s.SetMailPassword(ctx, blog.ID, hash("pw1"), at); err != nil {
		t.Fatal(err)
	}
	// The relay's reconciler wakes on the notice (within 2 s; the wait
	// bounds a broken store, it measures nothing).
	select {
	case <-notices:
	case <-time.After(2 * time.Second):
		t.Error("setting a mail password sent no mail notice")
	}
	rev1, _ := s.Revision(ctx, store.KindMail)
	if rev1 <= rev0 {
		t.Errorf("setting a mail password left the mail revision at %d", rev1)
	}
	if err := s.SetMailPerHour(ctx, blog.ID, 250); err != nil {
		t.Fatal(err)
	}
	if err := s.SetMailSuspended(ctx, blog.ID, true, "spam complaints", at.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	st, err = s.MailState(ctx, blog.ID)
	if err != nil {
		t.Fatal(err)
	}
	if string(st.PasswordHash) != string(hash("pw1")) || st.PerHour != 250 || !st.Suspended || st.SuspendedReason != "spam complaints" {
		t.Errorf("MailState = %+v", st)
	}
	sameTimePtr(t, "PasswordSetAt", st.PasswordSetAt, &at)
	suspendedAt := at.Add(time.Hour)
	sameTimePtr(t, "SuspendedAt", st.SuspendedAt, &suspendedAt)
	if rev2, _ := s.Revision(ctx, store.KindMail); rev2 <= rev1 {
		t.Errorf("quota and suspension left the mail revision at %d", rev2)
	}

	// Resume clears the reason and the time; 0 returns to the default.
	if err := s.SetMailSuspended(ctx, blog.ID, false, "ignored", at); err != nil {
		t.Fatal(err)
	}
	if err := s.SetMailPerHour(ctx, blog.ID, 0); err != nil {
		t.Fatal(err)
	}
	st, _ = s.MailState(ctx, blog.ID)
	if st.Suspended || st.SuspendedReason != "" || st.SuspendedAt != nil || st.PerHour != 0 || st.PasswordHash == nil {
		t.Errorf("after resume and quota 0: %+v", st)
	}

	// Writes for a service that does not exist.
	for name, err := range map[string]error{
		"SetMailPassword":  s.SetMailPassword(ctx, 9999, hash("x"), at),
		"SetMailPerHour":   s.SetMailPerHour(ctx, 9999, 5),
		"SetMailSuspended": s.SetMailSuspended(ctx, 9999, true, "x", at),
	} {
		if rampart.ErrorCode(err) != rampart.ENOTFOUND {
			t.Errorf("%s for a missing service: %v, want ENOTFOUND", name, err)
		}
	}

	// Accounts: services with settings, live ones only, by name.
	if err := s.SetMailPerHour(ctx, shop.ID, 10); err != nil {
		t.Fatal(err)
	}
	mustService(t, s, "wiki", u.ID) // no settings: not listed
	accounts, err := s.ListMailAccounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if names := accountNames(accounts); !slices.Equal(names, []string{"blog", "shop"}) {
		t.Fatalf("ListMailAccounts = %v, want blog and shop", names)
	}
	if a := accounts[1]; a.ServiceID != shop.ID || a.PerHour != 10 || a.PasswordHash != nil || a.Suspended {
		t.Errorf("shop's account = %+v", a)
	}
	shop.State = rampart.StateDeleted
	if err := s.UpdateService(ctx, shop); err != nil {
		t.Fatal(err)
	}
	accounts, _ = s.ListMailAccounts(ctx)
	if names := accountNames(accounts); !slices.Equal(names, []string{"blog"}) {
		t.Errorf("ListMailAccounts with shop deleted = %v, want blog only", names)
	}

	// The settings go with the service.
	if err := s.DeleteService(ctx, blog.ID); err != nil {
		t.Fatal(err)
	}
	_, err = s.MailState(ctx, blog.ID)
	wantCode(t, err, rampart.ENOTFOUND)
	accounts, _ = s.ListMailAccounts(ctx)
	if len(accounts) != 0 {
		t.Errorf("ListMailAccounts after the purge = %v", accountNames(accounts))
	}
}

func sameMailState(a, b store.MailState) bool {
	return a.ServiceID == b.ServiceID && string(a.PasswordHash) == string(b.PasswordHash) && a.PerHour == b.PerHour &&
		a.Suspended == b.Suspended && a.SuspendedReason == b.SuspendedReason &&
		(a.PasswordSetAt == nil) == (b.PasswordSetAt == nil) && (a.SuspendedAt == nil) == (b.SuspendedAt == nil)
}

func accountNames(list []*rampart.MailAccount) []string {
	names := []string{}
	for _, a := range list {
		names = append(names, a.Service)
	}
	return names
}

func testMailViolations(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := mustUser(t, s, "ada@example.com")
	blog := mustService(t, s, "blog", u.ID)
	shop := mustService(t, s, "shop", u.ID)
	rev0, _ := s.Revision(ctx, store.KindMail)
	at := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	for i, d := range []time.Duration{-25 * time.Hour, -2 * time.Hour, -time.Minute, 0} {
		if err := s.AddMailViolation(ctx, blog.ID, at.Add(d), fmt.Sprint("forged sender ", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.AddMailViolation(ctx, shop.ID, at, "over quota"); err != nil {
		t.Fatal(err)
	}
	wantCode(t, s.AddMailViolation(ctx, 9999, at, "x"), rampart.ENOTFOUND)
	tests := []struct {
		svc   int64
		since time.Time
		want  int
	}{
		{blog.ID, at.Add(-24 * time.Hour), 3},
		{blog.ID, at.Add(-time.Minute), 2}, // at or after since
		{blog.ID, at.Add(time.Second), 0},
		{shop.ID, at.Add(-24 * time.Hour), 1},
		{9999, at.Add(-24 * time.Hour), 0},
	}
	for _, tt := range tests {
		if n, err := s.CountMailViolations(ctx, tt.svc, tt.since); err != nil || n != tt.want {
			t.Errorf("CountMailViolations(%d, %v) = %d, %v, want %d", tt.svc, tt.since, n, err, tt.want)
		}
	}
	if err := s.ClearMailViolations(ctx, blog.ID); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.CountMailViolations(ctx, blog.ID, at.Add(-48*time.Hour)); n != 0 {
		t.Errorf("after ClearMailViolations: %d violations", n)
	}
	if n, _ := s.CountMailViolations(ctx, shop.ID, at.Add(-time.Hour)); n != 1 {
		t.Errorf("clearing blog's violations touched shop's: %d left", n)
	}
	if rev, _ := s.Revision(ctx, store.KindMail); rev != rev0 {
		t.Errorf("violations moved the mail revision from %d to %d", rev0, rev)
	}
}

func newMailMessage(svc int64, queueID string, at time.Time) *rampart.MailMessage {
	return &rampart.MailMessage{
		QueueID: queueID, ServiceID: svc, At: at, From: "blog@mail.example.com",
		Recipients: []rampart.MailRecipient{{Addr: "a@example.org", Status: rampart.MailQueued}},
		Size:       1234, SubjectHash: "ab12", Status: rampart.MailQueued,
	}
}

func testMailLog(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := mustUser(t, s, "ada@example.com")
	blog := mustService(t, s, "blog", u.ID)
	shop := mustService(t, s, "shop", u.ID)
	rev0, _ := s.Revision(ctx, store.KindMail)
	at := time.Now().UTC().Add(-time.Hour)

	m := newMailMessage(blog.ID, "q1", at)
	if err := s.AddMailMessage(ctx, m); err != nil {
		t.Fatal(err)
	}
	if m.ID == 0 {
		t.Fatal("AddMailMessage did not set the ID")
	}
	sameTime(t, "UpdatedAt", m.UpdatedAt, at)
	wantCode(t, s.AddMailMessage(ctx, newMailMessage(shop.ID, "q1", at)), rampart.ECONFLICT)
	wantCode(t, s.AddMailMessage(ctx, newMailMessage(9999, "q-missing", at)), rampart.ENOTFOUND)
	bad := newMailMessage(blog.ID, "q-bad", at)
	bad.Status = "lost"
	wantCode(t, s.AddMailMessage(ctx, bad), rampart.EINVALID)

	refused := newMailMessage(blog.ID, "r1", at.Add(time.Second))
	refused.Status, refused.Reason, refused.Recipients = rampart.MailRefused, "over quota", nil
	if err := s.AddMailMessage(ctx, refused); err != nil {
		t.Fatal(err)
	}

	// Update by queue ID.
	rcpts := []rampart.MailRecipient{{Addr: "a@example.org", Status: rampart.MailSent, Code: 250, Reply: "2.0.0 OK"}}
	upd := at.Add(time.Minute)
	if err := s.UpdateMailMessage(ctx, "q1", rampart.MailSent, "", rcpts, upd); err != nil {
		t.Fatal(err)
	}
	wantCode(t, s.UpdateMailMessage(ctx, "nope", rampart.MailSent, "", nil, upd), rampart.ENOTFOUND)
	wantCode(t, s.UpdateMailMessage(ctx, "q1", "", "", nil, upd), rampart.EINVALID)

	list, err := s.ListMailMessages(ctx, blog.ID, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].QueueID != "q1" || list[1].QueueID != "r1" {
		t.Fatalf("ListMailMessages = %+v, want q1 then r1", list)
	}
	got := list[0]
	sameTime(t, "At", got.At, at)
	sameTime(t, "UpdatedAt", got.UpdatedAt, upd)
	if got.Service != "blog" || got.Status != rampart.MailSent || !slices.Equal(got.Recipients, rcpts) ||
		got.From != m.From || got.Size != 1234 || got.SubjectHash != "ab12" || got.ID != m.ID {
		t.Errorf("logged message = %+v", got)
	}
	if list[1].Recipients == nil || len(list[1].Recipients) != 0 || list[1].Reason != "over quota" {
		t.Errorf("refused row = %+v, want no recipients (not nil) and the reason", list[1])
	}
	// One row by queue ID, as the list has it.
	one, err := s.MailMessage(ctx, "q1")
	if err != nil {
		t.Fatal(err)
	}
	if one.ID != got.ID || one.Service != "blog" || one.Status != rampart.MailSent || !slices.Equal(one.Recipients, rcpts) {
		t.Errorf("MailMessage(q1) = %+v, want %+v", one, got)
	}
	_, err = s.MailMessage(ctx, "nope")
	wantCode(t, err, rampart.ENOTFOUND)

	// Batches: all or none.
	batch := []*rampart.MailMessage{newMailMessage(blog.ID, "b1", at), newMailMessage(shop.ID, "b2", at), newMailMessage(blog.ID, "q1", at)}
	wantCode(t, s.AddMailMessages(ctx, batch), rampart.ECONFLICT)
	if list, _ := s.ListMailMessages(ctx, shop.ID, 0, 10); len(list) != 0 {
		t.Errorf("a failed batch left %d rows", len(list))
	}
	batch = batch[:2]
	if err := s.AddMailMessages(ctx, batch); err != nil {
		t.Fatal(err)
	}
	if batch[0].ID == 0 || batch[1].ID <= batch[0].ID {
		t.Errorf("batch IDs = %d, %d", batch[0].ID, batch[1].ID)
	}
	if err := s.AddMailMessages(ctx, nil); err != nil {
		t.Errorf("an empty batch: %v", err)
	}

	// Paging: newest with after 0, then following.
	tests := []struct {
		after int64
		limit int
		want  []string
	}{
		{0, 0, []string{"q1", "r1", "b1"}},
		{0, 2, []string{"r1", "b1"}},
		{m.ID, 1, []string{"r1"}},
		{refused.ID, 10, []string{"b1"}},
		{batch[0].ID, 10, []string{}},
	}
	for _, tt := range tests {
		list, err := s.ListMailMessages(ctx, blog.ID, tt.after, tt.limit)
		if err != nil {
			t.Fatal(err)
		}
		ids := []string{}
		for _, m := range list {
			ids = append(ids, m.QueueID)
		}
		if !slices.Equal(ids, tt.want) {
			t.Errorf("ListMailMessages(after %d, limit %d) = %v, want %v", tt.after, tt.limit, ids, tt.want)
		}
	}
	if rev, _ := s.Revision(ctx, store.KindMail); rev != rev0 {
		t.Errorf("the mail log moved the mail revision from %d to %d", rev0, rev)
	}

	// The log goes with the service.
	if err := s.DeleteService(ctx, shop.ID); err != nil {
		t.Fatal(err)
	}
	wantCode(t, s.UpdateMailMessage(ctx, "b2", rampart.MailSent, "", nil, upd), rampart.ENOTFOUND)
}

func testMailLogBounded(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := mustUser(t, s, "ada@example.com")
	blog := mustService(t, s, "blog", u.ID)
	shop := mustService(t, s, "shop", u.ID)
	start := time.Now().UTC().Add(-time.Hour)

	old := newMailMessage(shop.ID, "old", start.Add(-store.MailLogMaxAge-time.Hour))
	if err := s.AddMailMessage(ctx, old); err != nil {
		t.Fatal(err)
	}
	if list, _ := s.ListMailMessages(ctx, shop.ID, 0, 10); len(list) != 0 {
		t.Errorf("a row older than MailLogMaxAge was kept: %v", list[0].QueueID)
	}
	keep := newMailMessage(shop.ID, "keep", start)
	if err := s.AddMailMessage(ctx, keep); err != nil {
		t.Fatal(err)
	}

	batch := make([]*rampart.MailMessage, store.MailLogKeep+5)
	for i := range batch {
		batch[i] = newMailMessage(blog.ID, fmt.Sprint("m", i), start.Add(time.Duration(i)*time.Millisecond))
	}
	if err := s.AddMailMessages(ctx, batch); err != nil {
		t.Fatal(err)
	}
	var all []*rampart.MailMessage
	for after := int64(0); ; {
		list, err := s.ListMailMessages(ctx, blog.ID, after, store.MaxMailLogPage)
		if err != nil {
			t.Fatal(err)
		}
		if after == 0 {
			// The first call returns the newest page; follow from
			// before the oldest kept row instead.
			after = batch[4].ID
			continue
		}
		if len(list) == 0 {
			break
		}
		all = append(all, list...)
		after = list[len(list)-1].ID
	}
	if len(all) != store.MailLogKeep || all[0].QueueID != "m5" {
		t.Errorf("after %d inserts the log holds %d rows from %s, want the last %d", len(batch), len(all), all[0].QueueID, store.MailLogKeep)
	}
	if list, _ := s.ListMailMessages(ctx, blog.ID, 0, 10_000); len(list) != store.MaxMailLogPage {
		t.Errorf("a limit above MaxMailLogPage returned %d rows", len(list))
	}
	if list, _ := s.ListMailMessages(ctx, shop.ID, 0, 10); len(list) != 1 {
		t.Errorf("pruning blog's log touched shop's: %d rows", len(list))
	}
}

func testDKIMKeys(t *testing.T, s store.Store) {
	ctx := t.Context()
	at := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	list, err := s.DKIMKeys(ctx, "mail.example.com")
	if err != nil || list == nil || len(list) != 0 {
		t.Fatalf("DKIMKeys of a new domain = %v, %v; want an empty list", list, err)
	}
	k1 := &rampart.DKIMKey{Domain: "mail.example.com", Selector: "rampart1", Algorithm: "ed25519", PrivatePEM: []byte("sealed-1"), CreatedAt: at}
	k2 := &rampart.DKIMKey{Domain: "mail.example.com", Selector: "rampart2", Algorithm: "rsa", PrivatePEM: []byte("sealed-2"), CreatedAt: at.Add(time.Second)}
	other := &rampart.DKIMKey{Domain: "other.example.com", Selector: "rampart1", Algorithm: "rsa", PrivatePEM: []byte("sealed-3")}
	for _, k := range []*rampart.DKIMKey{k2, k1, other} {
		if err := s.CreateDKIMKey(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	recent(t, "CreatedAt", other.CreatedAt)
	wantCode(t, s.CreateDKIMKey(ctx, &rampart.DKIMKey{Domain: "mail.example.com", Selector: "rampart1", Algorithm: "rsa", PrivatePEM: []byte("x")}), rampart.ECONFLICT)
	list, err = s.DKIMKeys(ctx, "mail.example.com")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Selector != "rampart1" || list[1].Selector != "rampart2" ||
		string(list[0].PrivatePEM) != "sealed-1" || list[1].Algorithm != "rsa" {
		t.Fatalf("DKIMKeys = %+v", list)
	}
	sameTime(t, "CreatedAt", list[0].CreatedAt, at)
}
