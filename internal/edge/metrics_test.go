package edge

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// serviceLabels returns the values of the service label across reg.
func serviceLabels(t *testing.T, reg prometheus.Gatherer) map[string]bool {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	out := map[string]bool{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "service" {
					out[l.GetValue()] = true
				}
			}
		}
	}
	return out
}

func TestMetrics(t *testing.T) {
	up := echoUpstream(t, "blog")
	reg := newRegistry(t)
	e, srv := newEdge(t, Config{Metrics: reg},
		Route{Service: "blog", Hosts: []string{"blog.example.com"}, Upstreams: []string{up.URL}},
		Route{Service: "old", Hosts: []string{"old.example.com"}, Stopped: true},
	)
	get(t, srv, "blog.example.com", "/")
	get(t, srv, "Blog.example.com:80", "/x")
	get(t, srv, "old.example.com", "/")
	get(t, srv, "random-1.example.com", "/")
	get(t, srv, "random-2.example.com", "/")

	for _, tt := range []struct {
		service, code string
		want          float64
	}{
		{"blog", "200", 2},
		{"old", "503", 1},
		{"_unknown", "404", 2},
	} {
		if got := counterValue(t, e.metrics.requests.WithLabelValues(tt.service, tt.code)); got != tt.want {
			t.Errorf("requests{service=%q,code=%q} = %v, want %v", tt.service, tt.code, got, tt.want)
		}
	}
	if n := testutil.CollectAndCount(e.metrics.duration); n != 3 {
		t.Errorf("duration series: %d, want 3 (blog, old, _unknown)", n)
	}
	// The raw Host never becomes a label value.
	if got := serviceLabels(t, reg); len(got) != 3 || !got["blog"] || !got["old"] || !got[unknownService] {
		t.Errorf("service labels %v, want blog, old, %s", got, unknownService)
	}

	// A service that goes away takes its series with it.
	if err := e.SetRoutes([]Route{{Service: "blog", Hosts: []string{"blog.example.com"}, Upstreams: []string{up.URL}}}); err != nil {
		t.Fatal(err)
	}
	if got := serviceLabels(t, reg); got["old"] {
		t.Errorf("the removed service still has series: %v", got)
	}
	if got := counterValue(t, e.metrics.requests.WithLabelValues("blog", "200")); got != 2 {
		t.Errorf("blog's series was reset by SetRoutes: %v", got)
	}
}

func TestMetricsSharedRegistry(t *testing.T) {
	reg := newRegistry(t)
	a, err := New(Config{Metrics: reg})
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(Config{Metrics: reg})
	if err != nil {
		t.Fatalf("second edge on the same registry: %v", err)
	}
	if a.metrics.requests != b.metrics.requests {
		t.Error("the two edges do not share their collectors")
	}
}

func TestMetricsCodeSlots(t *testing.T) {
	e, err := New(Config{Metrics: newRegistry(t)})
	if err != nil {
		t.Fatal(err)
	}
	sm := e.metrics.forService("x")
	for _, code := range []int{200, 200, 418, 0, 999, 1000, -1} {
		sm.counter(code).Inc()
	}
	for code, want := range map[string]float64{"200": 2, "418": 1, "0": 1, "999": 1, "1000": 1, "-1": 1} {
		if got := counterValue(t, e.metrics.requests.WithLabelValues("x", code)); got != want {
			t.Errorf("code %s: %v, want %v", code, got, want)
		}
	}
}
