package api

import (
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rampart-dev/rampart"
)

// FuzzDecodeBody feeds arbitrary bodies to the request decoder: it must
// never panic, must refuse with a message for a person, and must accept
// only bodies whose keys are exactly the struct's.
func FuzzDecodeBody(f *testing.F) {
	for _, s := range []string{
		`{"name":"blog","upstreams":["http://127.0.0.1:8080"]}`,
		`{"name":"x","upstream":[]}`, `{"Name":"x"}`, `{"name":"a","name":"b"}`,
		`{"upstreams":"x"}`, `[]`, `null`, `{`, `{}{}`, `{"owner":{"a":1}}`, "\xff",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest("POST", "/api/v1/services", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		var in rampart.ServiceInput
		err := decodeBody(httptest.NewRecorder(), req, &in)
		if err == nil {
			return
		}
		var re *rampart.Error
		var he *httpError
		if !errors.As(err, &re) && !errors.As(err, &he) {
			t.Fatalf("error %v (%T) is neither a rampart nor an HTTP error", err, err)
		}
		if rampart.ErrorCode(err) == rampart.EINTERNAL || err.Error() == "" {
			t.Fatalf("refusal %q has no message for the client", err)
		}
	})
}

// FuzzAuthorization checks that a token is never quoted back in the 401
// message, wherever it sits in an odd Authorization header: the message
// ends up in terminals and logs.
func FuzzAuthorization(f *testing.F) {
	for _, s := range [][2]string{{"Bearer ", ""}, {"", ""}, {"Basic ", ""}, {"Token ", " x"}, {"Bearer", ""}, {"", " Bearer"}} {
		f.Add(s[0], s[1])
	}
	const token = "rpt_0123456789abcdefghijklmnopqrstuvwxyzABCDEFG"
	f.Fuzz(func(t *testing.T, before, after string) {
		scheme, cred, _ := strings.Cut(strings.TrimSpace(before+token+after), " ")
		if msg := malformed(scheme, strings.TrimSpace(cred)); strings.Contains(msg, token) {
			t.Fatalf("message %q quotes the token", msg)
		}
	})
}

// FuzzLogQuery feeds arbitrary query strings to GET /logs's parser: it
// never panics, refuses with a message for a person, and what it accepts
// is in range.
func FuzzLogQuery(f *testing.F) {
	for _, s := range []string{"", "tail=5", "tail=-1", "tail=1001", "follow=true&service=blog", "follow=yes", "tail=5&tail=6", "tial=1", "service=Blog", "%zz", "tail=0x10", "tail=+5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, query string) {
		req := httptest.NewRequest("GET", "/api/v1/logs", nil)
		req.URL.RawQuery = query
		q, err := parseLogQuery(req)
		if err != nil {
			if rampart.ErrorCode(err) != rampart.EINVALID || rampart.ErrorMessage(err) == "" {
				t.Fatalf("refusal %v: want an invalid error with a message", err)
			}
			return
		}
		if q.Tail < 0 || q.Tail > rampart.MaxLogTail {
			t.Fatalf("accepted tail %d", q.Tail)
		}
		if q.Service != "" && rampart.ValidateServiceName(q.Service) != nil {
			t.Fatalf("accepted service %q", q.Service)
		}
	})
}
