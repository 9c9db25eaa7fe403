package server

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rampart-dev/rampart/internal/config"
)

// TestShutdownWithSeveralListenersFailing: when requests outlast the
// shutdown on several listeners at once, Run reports it, and (under -race)
// the listeners' shutdowns do not race on the error.
func TestShutdownWithSeveralListenersFailing(t *testing.T) {
	cfg := config.Default()
	cfg.Data = t.TempDir()
	cfg.AdminAddr, cfg.HTTPAddr, cfg.HTTPSAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.Node.PublicIPs = []string{"127.0.0.1"}
	srv, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	srv.shutdownTimeout = 300 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	for deadline := time.Now().Add(10 * time.Second); ; {
		if res, err := http.Get("http://" + srv.AdminAddr() + "/healthz"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the server did not become ready")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// A request head that never ends keeps a connection active on the
	// admin listener and on the edge's HTTP listener.
	for _, addr := range []string{srv.AdminAddr(), srv.HTTPAddr()} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: demo.localhost\r\nX-Slow: "); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(100 * time.Millisecond) // let both servers see their connection
	cancel()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "graceful shutdown") {
			t.Errorf("Run = %v, want the graceful shutdown's failure", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
	}
}
