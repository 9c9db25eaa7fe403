package client

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/edge"
)

func (s *server) publish(service, path string) {
	s.logs.Publish(edge.LogEntry{Time: time.Now(), Service: service, Host: service + ".example.net", Method: "GET", Path: path, Status: 200})
}

func (s *server) createService(t *testing.T, token, name string) {
	t.Helper()
	c, err := New(s.url, token)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateService(context.Background(), rampart.ServiceInput{Name: name, Upstreams: []string{"http://127.0.0.1:9000"}}); err != nil {
		t.Fatal(err)
	}
}

func TestLogs(t *testing.T) {
	s := newServer(t)
	s.createService(t, s.alice, "blog")
	s.publish("blog", "/1")
	s.publish("blog", "/2")
	c, _ := New(s.url, s.alice)

	var got []string
	collect := func(ev rampart.LogEvent) error { got = append(got, ev.Entry.Path); return nil }
	if err := c.Logs(context.Background(), LogsQuery{Service: "blog", Tail: 1}, collect); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []string{"/2"}) {
		t.Errorf("backlog %v", got)
	}

	// Following: a new entry arrives; ending ctx ends the read with
	// ctx's error, as Ctrl+C does.
	ctx, cancel := context.WithCancel(context.Background())
	got = nil
	done := make(chan error, 1)
	go func() {
		done <- c.Logs(ctx, LogsQuery{Service: "blog", Follow: true}, func(ev rampart.LogEvent) error {
			got = append(got, ev.Entry.Path)
			cancel()
			return nil
		})
	}()
	for deadline := time.Now().Add(5 * time.Second); ; {
		s.publish("blog", "/live")
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) || !slices.Equal(got[:1], []string{"/live"}) {
				t.Fatalf("follow: %v, entries %v", err, got)
			}
			return
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("no live entry within 5s")
		}
	}
}

func TestLogsErrors(t *testing.T) {
	s := newServer(t)
	s.createService(t, s.admin, "blog")
	c, _ := New(s.url, s.alice)
	nop := func(rampart.LogEvent) error { return nil }

	err := c.Logs(context.Background(), LogsQuery{Service: "blog"}, nop)
	if rampart.ErrorCode(err) != rampart.ENOTFOUND || !strings.Contains(err.Error(), `service "blog" not found`) {
		t.Errorf("someone else's service: %v", err)
	}
	if err := c.Logs(context.Background(), LogsQuery{Tail: 5000}, nop); rampart.ErrorCode(err) != rampart.EINVALID {
		t.Errorf("tail 5000: %v", err)
	}

	// The server ends the stream (it shuts down): the reason comes back.
	done := make(chan error, 1)
	go func() { done <- c.Logs(context.Background(), LogsQuery{Follow: true}, nop) }()
	time.Sleep(100 * time.Millisecond)
	s.logs.Close()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "rampart is shutting down") {
			t.Errorf("after shutdown: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the read did not end when the server ended the stream")
	}
}

// TestLogsDeadConnection: a stream that stops sending even heartbeats is
// given up with an error that says so; one that closes early too.
func TestLogsDeadConnection(t *testing.T) {
	defer func(d time.Duration) { logIdleTimeout = d }(logIdleTimeout)
	logIdleTimeout = 200 * time.Millisecond
	tests := []struct {
		name    string
		handler http.HandlerFunc
		want    string
	}{
		{"silent", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/x-ndjson")
			w.WriteHeader(200)
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		}, "sent nothing for 200ms, not even a heartbeat"},
		{"closed", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/x-ndjson")
			w.Write([]byte("\n"))
		}, "closed the stream without saying why"},
		{"not rampart", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			w.Write([]byte("<html>"))
		}, "is --server pointing at rampart?"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hs := httptest.NewServer(tt.handler)
			defer hs.Close()
			c, _ := New(hs.URL, "rpt_x")
			err := c.Logs(context.Background(), LogsQuery{Follow: true}, func(rampart.LogEvent) error { return nil })
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
}
