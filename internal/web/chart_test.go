package web

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/rampart-dev/rampart"
)

func TestNiceCeil(t *testing.T) {
	for in, want := range map[int64]int64{
		-3: 1, 0: 1, 1: 1, 2: 2, 3: 5, 5: 5, 6: 10, 10: 10, 11: 20, 37: 50, 51: 100, 999: 1000, 1001: 2000,
		math.MaxInt64: math.MaxInt64,
	} {
		if got := niceCeil(in); got != want {
			t.Errorf("niceCeil(%d) = %d, want %d", in, got, want)
		}
	}
}

func TestWords(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{shortDuration(3 * time.Second), "3s"},
		{shortDuration(time.Minute), "1m"},
		{shortDuration(90 * time.Second), "1m30s"},
		{shortDuration(time.Hour), "1h"},
		{shortDuration(time.Hour + 30*time.Minute), "1h30m"},
		{shortDuration(1500 * time.Millisecond), "1.5s"},
		{shortDuration(0), "0s"},
		{spanWords(30 * time.Minute), "30 minutes"},
		{spanWords(time.Hour), "1 hour"},
		{spanWords(90 * time.Second), "90 seconds"},
		{spanWords(1500 * time.Millisecond), "1.5s"},
		{unitWords(time.Minute), "minute"},
		{unitWords(10 * time.Second), "10 seconds"},
		{unitWords(0), "interval"},
		{formatCount(0), "0"},
		{formatCount(999), "999"},
		{formatCount(1000), "1,000"},
		{formatCount(1234567), "1,234,567"},
		{formatCount(-1234), "-1,234"},
		{plural64(1, "miss"), "1 miss"},
		{plural64(2, "miss"), "2 misses"},
		{plural64(1500, "request"), "1,500 requests"},
		{percent(0), "0%"},
		{percent(0.001), "<1%"},
		{percent(0.5), "50%"},
		{percent(0.999), ">99%"},
		{percent(1), "100%"},
		{rateLimitWords(rampart.RateLimit{Enabled: true, Requests: 1, Per: "second"}), "1 request per second per client IP"},
		{rateLimitWords(rampart.RateLimit{Enabled: true, Requests: 1500, Per: "minute"}), "1,500 requests per minute per client IP"},
		{rateLimitWords(rampart.DefaultRateLimit()), "150 requests per minute per client IP"},
		{rateLimitWords(rampart.RateLimit{Requests: 150, Per: "minute"}), "Off"},
		{cacheWords(rampart.DefaultCache()), "GET/HEAD responses cached for 3s"},
		{cacheWords(rampart.Cache{TTL: rampart.Duration(time.Second)}), "Off"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

func TestSplitList(t *testing.T) {
	got := splitList("203.0.113.7\r\n\r\n  2001:db8::/48 ,10.0.0.0/8\t192.0.2.1\n")
	want := []string{"203.0.113.7", "2001:db8::/48", "10.0.0.0/8", "192.0.2.1"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("splitList = %q, want %q", got, want)
	}
	if got := splitList(" \n "); len(got) != 0 {
		t.Errorf("blank textarea = %q, want none", got)
	}
}

func TestParseFormDuration(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		err  string
	}{
		{"3s", 3 * time.Second, ""},
		{"1m30s", 90 * time.Second, ""},
		{"10", 10 * time.Second, ""},
		{"0.5", 500 * time.Millisecond, ""},
		{"0", 0, ""},
		{"-5s", -5 * time.Second, ""}, // the app rejects it with its bounds
		{"", 0, "is required"},
		{"NaN", 0, "is not a duration"},
		{"Inf", 0, "is not a duration"},
		{"1e300", 0, "is not a duration"},
		{"3 s", 0, "is not a duration"},
	} {
		got, msg := parseFormDuration("ttl", tc.in)
		if got != tc.want || (tc.err == "") != (msg == "") || !strings.Contains(msg, tc.err) {
			t.Errorf("parseFormDuration(%q) = %v, %q; want %v, %q", tc.in, got, msg, tc.want, tc.err)
		}
	}
}

func TestCoarsen(t *testing.T) {
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	var in []rampart.TrafficCount
	for i := range 3601 {
		in = append(in, rampart.TrafficCount{Start: start.Add(time.Duration(i) * time.Second), Requests: 1, Limited: int64(i % 2), Hits: 1})
	}
	out, width := coarsen(in, time.Second, maxChartSlots)
	if len(out) > maxChartSlots+1 || width != 31*time.Second {
		t.Fatalf("coarsen: %d slots of %s", len(out), width)
	}
	var total int64
	for _, b := range out {
		total += b.Requests
	}
	if total != 3601 {
		t.Errorf("coarsen lost requests: %d of 3601", total)
	}
	// Groups end at "now": the newest slot is a whole group, the oldest
	// takes the remainder.
	if last := out[len(out)-1]; last.Requests != 31 || !last.Start.Equal(in[3601-31].Start) {
		t.Errorf("newest slot: %+v", last)
	}
	if first := out[0]; !first.Start.Equal(start) || first.Requests != 3601%31 {
		t.Errorf("oldest slot: %+v", first)
	}
	if same, w := coarsen(in[:10], time.Second, maxChartSlots); len(same) != 10 || w != time.Second {
		t.Errorf("short series was changed")
	}
}

func TestChartsEdgeCases(t *testing.T) {
	if limitedChart(nil, time.Minute) != nil || hitRatioChart(nil, time.Minute) != nil {
		t.Error("charts drawn for no buckets")
	}
	huge := int64(math.MaxInt64 / 4)
	for _, tc := range []struct {
		name    string
		buckets []rampart.TrafficCount
		bars    int
		points  int
		dots    int
	}{
		{"one bucket", []rampart.TrafficCount{{Requests: 5, Limited: 2, Hits: 1, Misses: 1}}, 1, 1, 1},
		{"isolated points", []rampart.TrafficCount{{Hits: 1}, {}, {Misses: 3}, {}, {Hits: 2, Misses: 2}, {Hits: 1}}, 0, 4, 2},
		{"nothing cacheable", []rampart.TrafficCount{{Requests: 9, Bypassed: 9}, {Requests: 1, Bypassed: 1}}, 0, 0, 0},
		{"huge counts", []rampart.TrafficCount{{Requests: huge, Limited: huge, Hits: huge, Misses: huge}, {Limited: 1, Hits: huge}}, 2, 2, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bc := limitedChart(tc.buckets, time.Minute)
			lc := hitRatioChart(tc.buckets, time.Minute)
			if bc.Bars != tc.bars || lc.Points != tc.points || len(lc.Dots) != tc.dots {
				t.Errorf("bars %d points %d dots %d; want %d %d %d", bc.Bars, lc.Points, len(lc.Dots), tc.bars, tc.points, tc.dots)
			}
			for _, s := range bc.Slots {
				for _, f := range []float64{s.X, s.W, s.BarX, s.BarY, s.BarW, s.BarH} {
					if math.IsNaN(f) || math.IsInf(f, 0) || f < 0 || f > chartW {
						t.Errorf("slot coordinate %v out of the chart: %+v", f, s)
					}
				}
				if s.Bar && (s.BarY < chartTop-0.01 || s.BarY+s.BarH > chartBottom+0.01) {
					t.Errorf("bar outside the plot: %+v", s)
				}
			}
			for _, p := range append([]string{lc.Line, lc.Area}, bc.Label, lc.Label) {
				if strings.Contains(p, "NaN") || strings.Contains(p, "Inf") {
					t.Errorf("non-finite number in %q", p)
				}
			}
		})
	}
	if svgNum(math.NaN()) != "0" || svgNum(math.Inf(1)) != "0" || svgNum(1.005) != "1" || svgNum(2.5) != "2.5" {
		t.Error("svgNum")
	}
}
