package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/app"
)

// testRelay is a running relay as the service layer sees it.
type testRelay struct{}

func (testRelay) Flush() rampart.MailQueue { return rampart.MailQueue{Depth: 3} }

func (testRelay) Usage(string) (int, int, time.Time) { return 3, 300, time.Time{} }
func (testRelay) Endpoint() (string, int, bool)      { return "10.0.0.1", 587, true }
func (testRelay) DNS(context.Context) ([]rampart.MailDNSRecord, error) {
	return []rampart.MailDNSRecord{{Purpose: "spf", Name: "mail." + testDomain, Type: "TXT", Value: "v=spf1 ip4:192.0.2.1 -all", Published: true}}, nil
}

func TestMailAPI(t *testing.T) {
	e := newEnv(t)
	member := e.user("mia@example.com", rampart.RoleMember)
	e.createService(member, "shop")

	rec := e.do(http.MethodGet, "/api/v1/services/shop/mail", member, "")
	var st rampart.MailSettings
	decodeInto(t, rec, http.StatusOK, &st)
	if st.Address != "shop@mail."+testDomain || !st.Enabled || st.Used != 3 || st.PerHour != rampart.DefaultMailPerHour || !st.PerHourDefault {
		t.Errorf("settings = %+v", st)
	}

	// The first call makes the password (201), a repeat shows the login
	// only (200), rotate makes a new one (201).
	var creds rampart.MailCredentials
	rec = e.do(http.MethodPost, "/api/v1/services/shop/mail/credentials", member, "")
	decodeInto(t, rec, http.StatusCreated, &creds)
	if creds.Password == "" || creds.Username != "shop@mail."+testDomain || creds.Port != 587 {
		t.Errorf("new credentials = %+v", creds)
	}
	if cc := rec.Header().Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", cc)
	}
	rec = e.do(http.MethodPost, "/api/v1/services/shop/mail/credentials", member, `{}`)
	creds = rampart.MailCredentials{}
	decodeInto(t, rec, http.StatusOK, &creds)
	if creds.Password != "" || strings.Contains(rec.Body.String(), "password") {
		t.Errorf("a repeat shows a password: %s", rec.Body)
	}
	rec = e.do(http.MethodPost, "/api/v1/services/shop/mail/credentials", member, `{"rotate":true}`)
	decodeInto(t, rec, http.StatusCreated, &creds)

	tests := []struct {
		name, method, path string
		actor              string
		body               string
		status             int
		want               string
	}{
		{"member quota", http.MethodPut, "/api/v1/services/shop/mail/quota", member, `{"per_hour":5000}`, http.StatusForbidden, "admin"},
		{"member suspend", http.MethodPost, "/api/v1/services/shop/mail/suspend", member, ``, http.StatusForbidden, "admin"},
		{"member resume", http.MethodPost, "/api/v1/services/shop/mail/resume", member, ``, http.StatusForbidden, "admin"},
		{"member dns", http.MethodGet, "/api/v1/mail/dns", member, ``, http.StatusForbidden, "admin"},
		{"member flush", http.MethodPost, "/api/v1/mail/flush", member, ``, http.StatusForbidden, "admin"},
		{"quota missing", http.MethodPut, "/api/v1/services/shop/mail/quota", e.admin, `{}`, http.StatusBadRequest, "per_hour"},
		{"quota too big", http.MethodPut, "/api/v1/services/shop/mail/quota", e.admin, `{"per_hour":100001}`, http.StatusBadRequest, "between 1 and 100000"},
		{"quota typo", http.MethodPut, "/api/v1/services/shop/mail/quota", e.admin, `{"perhour":5}`, http.StatusBadRequest, "per_hour"},
		{"quota string", http.MethodPut, "/api/v1/services/shop/mail/quota", e.admin, `{"per_hour":"5"}`, http.StatusBadRequest, "per_hour"},
		{"rotate typo", http.MethodPost, "/api/v1/services/shop/mail/credentials", member, `{"rotat":true}`, http.StatusBadRequest, "rotate"},
		{"reason multiline", http.MethodPost, "/api/v1/services/shop/mail/suspend", e.admin, `{"reason":"a\nb"}`, http.StatusBadRequest, "one line"},
		{"log bad after", http.MethodGet, "/api/v1/services/shop/mail/messages?after=x", member, ``, http.StatusBadRequest, "after="},
		{"log negative after", http.MethodGet, "/api/v1/services/shop/mail/messages?after=-5", member, ``, http.StatusBadRequest, "after="},
		{"log huge limit", http.MethodGet, "/api/v1/services/shop/mail/messages?limit=99999999999999999999", member, ``, http.StatusBadRequest, "limit="},
		{"log limit over page", http.MethodGet, "/api/v1/services/shop/mail/messages?limit=501", member, ``, http.StatusBadRequest, "limit"},
		{"log unknown param", http.MethodGet, "/api/v1/services/shop/mail/messages?afterr=1", member, ``, http.StatusBadRequest, "after"},
		{"log twice", http.MethodGet, "/api/v1/services/shop/mail/messages?after=1&after=2", member, ``, http.StatusBadRequest, "once"},
		{"another's service", http.MethodGet, "/api/v1/services/web/mail", member, ``, http.StatusNotFound, "not found"},
		{"no token", http.MethodGet, "/api/v1/services/shop/mail", "", ``, http.StatusUnauthorized, ""},
	}
	e.createService(e.admin, "web")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := e.do(tt.method, tt.path, tt.actor, tt.body)
			if rec.Code != tt.status || !strings.Contains(rec.Body.String(), tt.want) {
				t.Errorf("%s %s = %d %s, want %d mentioning %q", tt.method, tt.path, rec.Code, rec.Body, tt.status, tt.want)
			}
		})
	}

	// The admin's side.
	rec = e.do(http.MethodPut, "/api/v1/services/shop/mail/quota", e.admin, `{"per_hour":50}`)
	decodeInto(t, rec, http.StatusOK, &st)
	if st.PerHour != 50 || st.PerHourDefault {
		t.Errorf("after quota 50: %+v", st)
	}
	rec = e.do(http.MethodPost, "/api/v1/services/shop/mail/suspend", e.admin, `{"reason":"complaints"}`)
	decodeInto(t, rec, http.StatusOK, &st)
	if !st.Suspended || st.SuspendedReason != "complaints" {
		t.Errorf("after suspend: %+v", st)
	}
	rec = e.do(http.MethodPost, "/api/v1/services/shop/mail/resume", e.admin, ``)
	decodeInto(t, rec, http.StatusOK, &st)
	if st.Suspended {
		t.Errorf("after resume: %+v", st)
	}
	var q rampart.MailQueue
	decodeInto(t, e.do(http.MethodPost, "/api/v1/mail/flush", e.admin, ""), http.StatusOK, &q)
	if q.Depth != 3 || q.Oldest != nil {
		t.Errorf("flush = %+v", q)
	}
	var dns rampart.MailDNSList
	decodeInto(t, e.do(http.MethodGet, "/api/v1/mail/dns", e.admin, ""), http.StatusOK, &dns)
	if len(dns.Records) != 1 || dns.Records[0].Purpose != "spf" {
		t.Errorf("dns = %+v", dns)
	}

	// The log, as the relay writes it.
	svc, err := e.db.ServiceByName(context.Background(), "shop")
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"q1", "q2", "q3"} {
		if err := e.db.AddMailMessage(context.Background(), &rampart.MailMessage{QueueID: q, ServiceID: svc.ID, From: "shop@mail." + testDomain, Status: rampart.MailQueued,
			Recipients: []rampart.MailRecipient{{Addr: "a@example.org", Status: rampart.MailQueued}}}); err != nil {
			t.Fatal(err)
		}
	}
	var list rampart.MailMessageList
	decodeInto(t, e.do(http.MethodGet, "/api/v1/services/shop/mail/messages?limit=2", member, ""), http.StatusOK, &list)
	if len(list.Messages) != 2 || list.Messages[0].QueueID != "q2" || list.Messages[1].Recipients[0].Addr != "a@example.org" {
		t.Fatalf("last 2 = %+v", list.Messages)
	}
	after := list.Messages[0].ID
	decodeInto(t, e.do(http.MethodGet, "/api/v1/services/shop/mail/messages?after="+jsonInt(after), member, ""), http.StatusOK, &list)
	if len(list.Messages) != 1 || list.Messages[0].QueueID != "q3" {
		t.Errorf("after q2 = %+v", list.Messages)
	}
}

func decodeInto(t *testing.T, rec *httptest.ResponseRecorder, status int, v any) {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("status %d, want %d: %s", rec.Code, status, rec.Body)
	}
	if err := json.Unmarshal(rec.Body.Bytes(), v); err != nil {
		t.Fatal(err)
	}
}

func jsonInt(n int64) string { return strconv.FormatInt(n, 10) }

// FuzzMailLogQuery feeds arbitrary query strings to the mail log's
// parser: it never panics, refuses with a message for a person, and what
// it accepts is in range.
func FuzzMailLogQuery(f *testing.F) {
	for _, s := range []string{"", "after=5", "after=-1", "limit=0", "limit=501", "after=1&after=2", "aftr=1", "%zz", "limit=0x10", "after=99999999999999999999", "limit=+5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, query string) {
		req := httptest.NewRequest("GET", "/api/v1/services/shop/mail/messages", nil)
		req.URL.RawQuery = query
		after, limit, err := parseMailLogQuery(req)
		if err != nil {
			if rampart.ErrorCode(err) != rampart.EINVALID || rampart.ErrorMessage(err) == "" {
				t.Fatalf("refusal %v is not an invalid-input error with a message", err)
			}
			return
		}
		if after < 0 || limit < 0 || limit > app.MaxMailLogLimit {
			t.Fatalf("accepted after=%d limit=%d from %q", after, limit, query)
		}
	})
}
