package api

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/app"
	"github.com/rampart-dev/rampart/internal/edge"
)

// publish records a request for service through the edge log, as the edge
// does when a request finishes.
func (e *env) publish(service, path string, status int) {
	e.logs.Publish(edge.LogEntry{Time: time.Now(), Service: service, Host: service + "." + testDomain, Method: "GET", Path: path, Status: status})
}

// stream is a live GET /logs over a real connection, read line by line.
type stream struct {
	t     *testing.T
	res   *http.Response
	lines chan string
}

func (e *env) openStream(token, query string) *stream {
	e.t.Helper()
	srv := httptest.NewServer(e.h)
	e.t.Cleanup(srv.Close)
	ctx, cancel := context.WithCancel(context.Background())
	e.t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/api/v1/logs"+query, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { res.Body.Close() })
	s := &stream{t: e.t, res: res, lines: make(chan string, 100)}
	go func() {
		defer close(s.lines)
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			s.lines <- sc.Text()
		}
	}()
	return s
}

// next returns the next line ("" for a heartbeat), or fails after 5 s.
func (s *stream) next() (string, bool) {
	s.t.Helper()
	select {
	case l, ok := <-s.lines:
		return l, ok
	case <-time.After(5 * time.Second):
		s.t.Fatal("no line from the stream within 5s")
		return "", false
	}
}

// event skips heartbeats and decodes the next line.
func (s *stream) event() rampart.LogEvent {
	s.t.Helper()
	for {
		l, ok := s.next()
		if !ok {
			s.t.Fatal("the stream ended")
		}
		if l == "" {
			continue
		}
		var ev rampart.LogEvent
		dec := json.NewDecoder(strings.NewReader(l))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&ev); err != nil {
			s.t.Fatalf("line %q: %v", l, err)
		}
		return ev
	}
}

func TestLogsFollow(t *testing.T) {
	e := newEnv(t)
	e.createService(e.alice, "blog")
	e.publish("blog", "/before", 200)

	s := e.openStream(e.alice, "?service=blog&follow=true&tail=10")
	if s.res.StatusCode != 200 || s.res.Header.Get("Content-Type") != "application/x-ndjson" {
		t.Fatalf("status %d, Content-Type %q", s.res.StatusCode, s.res.Header.Get("Content-Type"))
	}
	if ev := s.event(); ev.Type != rampart.LogEventEntry || ev.Entry.Path != "/before" || ev.Entry.Service != "blog" {
		t.Fatalf("backlog line %+v", ev)
	}
	// A quiet stream sends heartbeats (the test env's are 100 ms apart).
	if l, _ := s.next(); l != "" {
		t.Fatalf("want a heartbeat, got %q", l)
	}
	e.publish("shop", "/not-blog", 200)
	e.publish("blog", "/live", 502)
	if ev := s.event(); ev.Type != rampart.LogEventEntry || ev.Entry.Path != "/live" || ev.Entry.Status != 502 {
		t.Fatalf("live line %+v", ev)
	}
}

func TestLogsBacklogWithoutFollow(t *testing.T) {
	e := newEnv(t)
	e.createService(e.alice, "blog")
	e.createService(e.bob, "shop")
	e.publish("blog", "/1", 200)
	e.publish("shop", "/2", 200)
	e.publish("", "/3", 404) // a host no service has
	tests := []struct {
		token, query string
		want         []string
	}{
		{e.admin, "", []string{"blog/1", "shop/2", "/3"}},
		{e.admin, "?tail=1", []string{"/3"}},
		{e.admin, "?tail=0", nil},
		{e.alice, "", []string{"blog/1"}},
		{e.bob, "?service=shop&follow=false", []string{"shop/2"}},
	}
	for _, tt := range tests {
		rec := e.do("GET", "/api/v1/logs"+tt.query, tt.token, "")
		if rec.Code != 200 {
			t.Fatalf("%s: %d %s", tt.query, rec.Code, rec.Body)
		}
		var got []string
		for _, l := range strings.Split(strings.TrimSpace(rec.Body.String()), "\n") {
			if l == "" {
				continue
			}
			var ev rampart.LogEvent
			if err := json.Unmarshal([]byte(l), &ev); err != nil || ev.Type != rampart.LogEventEntry {
				t.Fatalf("line %q: %v", l, err)
			}
			got = append(got, ev.Entry.Service+ev.Entry.Path)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: %v, want %v", tt.query, got, tt.want)
		}
	}
}

func TestLogsRefused(t *testing.T) {
	e := newEnv(t)
	e.createService(e.alice, "blog")
	tests := []struct {
		token, query string
		status       int
		code, msg    string
	}{
		{e.bob, "?service=blog", 404, rampart.ENOTFOUND, `service "blog" not found`},
		{e.bob, "?service=blog&follow=true", 404, rampart.ENOTFOUND, `service "blog" not found`},
		{e.alice, "?service=nope", 404, rampart.ENOTFOUND, `service "nope" not found`},
		{e.alice, "?tail=abc", 400, rampart.EINVALID, `tail="abc" is not a number of entries from 0 to 1000`},
		{e.alice, "?tail=-1", 400, rampart.EINVALID, `tail="-1" is not a number`},
		{e.alice, "?tail=1001", 400, rampart.EINVALID, `tail="1001" is not a number of entries from 0 to 1000: e.g. tail=50`},
		{e.alice, "?tail=", 400, rampart.EINVALID, `tail="" is not a number`},
		{e.alice, "?tail=5&tail=6", 400, rampart.EINVALID, `"tail" is given 2 times`},
		{e.alice, "?follow=maybe", 400, rampart.EINVALID, `follow="maybe" is not a boolean: use follow=true or follow=false`},
		{e.alice, "?tial=5", 400, rampart.EINVALID, `did you mean "tail"?`},
		{e.alice, "?service=Blog", 400, rampart.EINVALID, `has upper-case letters: use "blog"`},
		{"", "", 401, rampart.EUNAUTHORIZED, "no API token"},
	}
	for _, tt := range tests {
		wantError(t, e.do("GET", "/api/v1/logs"+tt.query, tt.token, ""), tt.status, tt.code, tt.msg)
	}
}

// TestLogsStreamEnds: a following stream says why it ends when the server
// ends it, here because its token was revoked.
func TestLogsStreamEnds(t *testing.T) {
	e := newEnv(t)
	e.createService(e.alice, "blog")
	token, tok, err := e.app.Accounts.CreateToken(context.Background(), app.OperatorActor(), rampart.TokenInput{Email: "alice@example.com", Name: "tail"})
	if err != nil {
		t.Fatal(err)
	}
	s := e.openStream(token, "?follow=true")
	if l, _ := s.next(); l != "" {
		t.Fatalf("want a heartbeat first, got %q", l)
	}
	if err := e.db.DeleteToken(context.Background(), tok.ID); err != nil {
		t.Fatal(err)
	}
	ev := s.event()
	if ev.Type != rampart.LogEventEnd || !strings.Contains(ev.Message, "API token is not valid") {
		t.Fatalf("last line %+v", ev)
	}
	if l, ok := s.next(); ok {
		t.Errorf("line after the end: %q", l)
	}
}
