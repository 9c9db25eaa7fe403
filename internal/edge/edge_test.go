package edge

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// seen is what the echo upstream reports about the request it received.
type seen struct {
	Name   string      `json:"name"`
	Host   string      `json:"host"`
	URI    string      `json:"uri"`
	Header http.Header `json:"header"`
}

// echoUpstream starts a loopback upstream that answers with a JSON
// description of each request it receives.
func echoUpstream(t testing.TB, name string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(seen{Name: name, Host: r.Host, URI: r.RequestURI, Header: r.Header})
	}))
	t.Cleanup(srv.Close)
	return srv
}

// quiet is an error log for tests: upstream failures are expected.
var quiet = slog.New(slog.DiscardHandler)

// newEdge returns an edge with routes, served on a loopback listener.
func newEdge(t testing.TB, cfg Config, routes ...Route) (*Edge, *httptest.Server) {
	t.Helper()
	if cfg.ErrorLog == nil {
		cfg.ErrorLog = quiet
	}
	e, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := e.SetRoutes(routes); err != nil {
		t.Fatalf("SetRoutes: %v", err)
	}
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return e, srv
}

// get sends a GET for host and path to srv, with extra headers given as
// name, value pairs, and returns the response with its body read.
func get(t testing.TB, srv *httptest.Server, host, path string, hdr ...string) (*http.Response, string) {
	t.Helper()
	return do(t, srv, http.MethodGet, host, path, hdr...)
}

func do(t testing.TB, srv *httptest.Server, method, host, path string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s%s: %v", method, host, path, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s%s: reading body: %v", method, host, path, err)
	}
	return res, string(body)
}

// decode parses an echo upstream's answer.
func decode(t testing.TB, body string) seen {
	t.Helper()
	var s seen
	if err := json.Unmarshal([]byte(body), &s); err != nil {
		t.Fatalf("upstream answer %q: %v", body, err)
	}
	return s
}

// logBuffer collects JSON access log lines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) lines(t testing.TB) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(b.buf.String()), "\n") {
		if l == "" {
			continue
		}
		m := map[string]any{}
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

func TestZeroConfig(t *testing.T) {
	e, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	rr := httptest.NewRecorder()
	e.ServeHTTP(rr, httptest.NewRequest("GET", "http://nowhere.example/", nil))
	if rr.Code != http.StatusNotFound {
		t.Fatalf("empty edge answered %d, want 404", rr.Code)
	}
}

func newRegistry(t testing.TB) *prometheus.Registry {
	t.Helper()
	return prometheus.NewPedanticRegistry()
}

func slogDiscard() *slog.Logger { return slog.New(slog.DiscardHandler) }

func jsonDecode(res *http.Response, v any) error {
	defer res.Body.Close()
	return json.NewDecoder(res.Body).Decode(v)
}

func slogJSON(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, nil))
}

func counterValue(t testing.TB, c prometheus.Collector) float64 {
	t.Helper()
	return testutil.ToFloat64(c)
}
