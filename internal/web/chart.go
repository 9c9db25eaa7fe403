package web

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/rampart-dev/rampart"
)

// The Security tab's charts are SVG drawn here, on the server. That needs no
// chart library to vendor and no script, so nothing in the CSP has to be
// loosened, and the charts show without JavaScript. Colours come from
// classes in app.css (never style attributes, which the CSP forbids), so
// dark mode restyles them. Every bucket has a <title>, which browsers show
// as a tooltip: the exact numbers are one hover away.
//
// The viewBox has a fixed aspect ratio and the SVG scales uniformly with
// its column, so strokes and dots keep their shape; labels are HTML next to
// the SVG, where text stays readable at any width.

const (
	chartW      = 600.0 // viewBox width
	chartH      = 160.0 // viewBox height: still readable on a phone
	chartTop    = 6.0   // y of the top gridline: room for a stroke at 100%
	chartBottom = 158.0 // y of the baseline
	// maxChartSlots bounds the bars or points drawn: finer data is merged,
	// so a store of one-second buckets cannot make the page huge.
	maxChartSlots = 120
	// maxTopLimited is how many clients the top-limited table lists.
	maxTopLimited = 10
)

// chartSlot is one bucket's column in a chart: a hover target the height of
// the chart with the bucket's tooltip, and for bar charts its bar.
type chartSlot struct {
	X, W    float64 // the column
	Title   string  // the tooltip
	Current bool    // the last bucket, still filling
	Bar     bool    // draw a bar (nothing for a zero count)
	BarX    float64
	BarY    float64
	BarW    float64
	BarH    float64
}

// barChart is a count per bucket, scaled to Top (a round number at or above
// the peak) so that the top gridline's label reads well.
type barChart struct {
	chartFrame
	Window string // how far back the chart reaches: "30 minutes"
	Label  string // the whole chart in words, for screen readers
	Top    int64
	Slots  []chartSlot
	Bars   int // how many slots have a bar
}

// lineChart is a ratio (0 to 1) per bucket. Buckets without a value break
// the line, so a gap says "nothing to measure" instead of a made-up 0%.
type lineChart struct {
	chartFrame
	Window string
	Label  string
	Slots  []chartSlot
	Line   string       // path data: one M…L… run per stretch of values
	Area   string       // the same runs closed down to the baseline
	Dots   []chartPoint // values with no neighbour to draw a line to
	// Points counts the buckets with a value: the line's vertices plus Dots.
	Points int
}

type chartPoint struct{ X, Y float64 }

// chartFrame gives the templates the geometry both kinds of chart share,
// so that the numbers live in one place.
type chartFrame struct{}

func (chartFrame) Width() float64   { return chartW }
func (chartFrame) Height() float64  { return chartH }
func (chartFrame) TopY() float64    { return chartTop }
func (chartFrame) MidY() float64    { return (chartTop + chartBottom) / 2 }
func (chartFrame) BottomY() float64 { return chartBottom }

// svgNum formats a coordinate. Non-finite values would make the browser
// drop the whole element, so they become 0; the builders never produce
// them, and this keeps a mistake from reaching the page as "NaN".
func svgNum(f float64) string {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "0"
	}
	return strconv.FormatFloat(math.Round(f*100)/100, 'f', -1, 64)
}

// slotsFor lays n buckets side by side across the chart.
func slotsFor(n int) []chartSlot {
	sw := chartW / float64(n)
	slots := make([]chartSlot, n)
	for i := range slots {
		slots[i] = chartSlot{X: float64(i) * sw, W: sw, Current: i == n-1}
	}
	return slots
}

// limitedChart draws the rate limiter's refusals per bucket.
func limitedChart(buckets []rampart.TrafficCount, width time.Duration) *barChart {
	if len(buckets) == 0 {
		return nil
	}
	var peak, total int64
	for _, b := range buckets {
		peak = max(peak, b.Limited)
		total += b.Limited
	}
	c := &barChart{Top: niceCeil(peak), Slots: slotsFor(len(buckets))}
	plotH := chartBottom - chartTop
	for i, b := range buckets {
		s := &c.Slots[i]
		s.Title = fmt.Sprintf("%s · %s of %s limited", bucketTime(b.Start, width, s.Current),
			formatCount(b.Limited), plural64(b.Requests, "request"))
		if b.Limited <= 0 {
			continue
		}
		h := float64(b.Limited) / float64(c.Top) * plotH
		h = max(h, 1.5) // one refusal must still show
		bw := min(s.W*0.7, 28)
		s.Bar, s.BarX, s.BarW, s.BarH, s.BarY = true, s.X+(s.W-bw)/2, bw, h, chartBottom-h
		c.Bars++
	}
	c.Label = fmt.Sprintf("Limited requests per %s: %s in total, at most %s in one %s.",
		unitWords(width), formatCount(total), formatCount(peak), unitWords(width))
	return c
}

// hitRatioChart draws hits / (hits + misses) per bucket.
func hitRatioChart(buckets []rampart.TrafficCount, width time.Duration) *lineChart {
	if len(buckets) == 0 {
		return nil
	}
	c := &lineChart{Slots: slotsFor(len(buckets))}
	plotH := chartBottom - chartTop
	var line, area strings.Builder
	var run []chartPoint
	flush := func() {
		switch len(run) {
		case 0:
			return
		case 1:
			c.Dots = append(c.Dots, run[0])
		default:
			fmt.Fprintf(&area, "M%s %sL", svgNum(run[0].X), svgNum(chartBottom))
			for i, p := range run {
				cmd := "L"
				if i == 0 {
					cmd = "M"
				}
				fmt.Fprintf(&line, "%s%s %s", cmd, svgNum(p.X), svgNum(p.Y))
				fmt.Fprintf(&area, "%s %s ", svgNum(p.X), svgNum(p.Y))
			}
			fmt.Fprintf(&area, "%s %sZ", svgNum(run[len(run)-1].X), svgNum(chartBottom))
		}
		c.Points += len(run)
		run = run[:0]
	}
	for i, b := range buckets {
		s := &c.Slots[i]
		when := bucketTime(b.Start, width, s.Current)
		r := b.HitRatio()
		if r < 0 {
			s.Title = when + " · nothing cacheable"
			flush()
			continue
		}
		s.Title = fmt.Sprintf("%s · %s from the cache (%s, %s)", when, percent(r),
			plural64(b.Hits, "hit"), plural64(b.Misses, "miss"))
		run = append(run, chartPoint{X: s.X + s.W/2, Y: chartBottom - r*plotH})
	}
	flush()
	c.Line, c.Area = line.String(), strings.TrimSpace(area.String())
	c.Label = fmt.Sprintf("Cache hit ratio per %s, 0 to 100%%; %d of %d intervals had cacheable requests.",
		unitWords(width), c.Points, len(buckets))
	return c
}

// coarsen merges adjacent buckets until at most limit remain. Groups are
// counted from the newest end, so the last slot is still "now" and only the
// oldest may cover fewer buckets.
func coarsen(buckets []rampart.TrafficCount, width time.Duration, limit int) ([]rampart.TrafficCount, time.Duration) {
	n := len(buckets)
	if n <= limit {
		return buckets, width
	}
	k := (n + limit - 1) / limit
	out := make([]rampart.TrafficCount, 0, limit+1)
	for end := n; end > 0; end -= k {
		g := rampart.TrafficCount{Start: buckets[max(end-k, 0)].Start}
		for _, b := range buckets[max(end-k, 0):end] {
			g.Requests += b.Requests
			g.Limited += b.Limited
			g.Hits += b.Hits
			g.Misses += b.Misses
			g.Bypassed += b.Bypassed
		}
		out = append(out, g)
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, width * time.Duration(k)
}

// niceCeil rounds n up to 1, 2 or 5 times a power of ten: the value of the
// bar chart's top gridline.
func niceCeil(n int64) int64 {
	if n <= 1 {
		return 1
	}
	for p := int64(1); p <= math.MaxInt64/10; p *= 10 {
		for _, m := range []int64{1, 2, 5} {
			if m*p >= n {
				return m * p
			}
		}
	}
	return n
}

// bucketTime labels a bucket by its start, in UTC like every time on the
// dashboard; seconds matter only for buckets shorter than a minute.
func bucketTime(t time.Time, width time.Duration, current bool) string {
	layout := "15:04 UTC"
	if width < time.Minute {
		layout = "15:04:05 UTC"
	}
	s := t.UTC().Format(layout)
	if current {
		s += " (so far)"
	}
	return s
}

// unitWords names a bucket's width as the unit of a rate: "minute",
// "10 seconds".
func unitWords(d time.Duration) string {
	switch d {
	case time.Second:
		return "second"
	case time.Minute:
		return "minute"
	case time.Hour:
		return "hour"
	}
	if d <= 0 {
		return "interval" // the edge did not say; never "per "
	}
	return spanWords(d)
}

// spanWords says how long a stretch of time is: "30 minutes", "1 hour".
func spanWords(d time.Duration) string {
	switch {
	case d <= 0:
		return ""
	case d%time.Hour == 0:
		return plural(int(d/time.Hour), "hour")
	case d%time.Minute == 0:
		return plural(int(d/time.Minute), "minute")
	case d%time.Second == 0:
		return plural(int(d/time.Second), "second")
	}
	return shortDuration(d)
}

// shortDuration is time.Duration's text without the zero tails it adds:
// "1m" rather than "1m0s", as people type it into the forms.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// formatCount writes n with thousands separators: 12,345.
func formatCount(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// plural64 is plural for counts, with separators and "misses" spelled right.
func plural64(n int64, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	if strings.HasSuffix(unit, "s") {
		return formatCount(n) + " " + unit + "es"
	}
	return formatCount(n) + " " + unit + "s"
}

// percent formats a ratio as a whole percentage, never rounding a partial
// result to exactly 0% or 100%, which would claim more than was measured.
func percent(r float64) string {
	p := math.Round(r * 100)
	switch {
	case p == 0 && r > 0:
		return "<1%"
	case p == 100 && r < 1:
		return ">99%"
	}
	return strconv.Itoa(int(p)) + "%"
}

// trafficView is what the Security tab shows of a service's recent traffic.
type trafficView struct {
	Window  string // "30 minutes"; empty when the bucket width is unknown
	Unit    string // a bucket's width as a rate's unit: "minute"
	Empty   bool   // the edge has seen nothing yet
	Totals  rampart.TrafficCount
	Limited *barChart
	Hits    *lineChart
	// HitRatio is the ratio over the whole window, "" when nothing was
	// cacheable.
	HitRatio   string
	LimitedPct string // share of requests limited, "" without requests
	TopLimited []rampart.ClientCount
	// TopWindow is how far back TopLimited looks ("5 minutes"), "" when
	// unknown: not the charts' Window, so the table says so.
	TopWindow string
}

// newTrafficView turns the edge's statistics into what the tab draws.
func newTrafficView(st rampart.TrafficStats) *trafficView {
	v := &trafficView{Empty: len(st.Buckets) == 0}
	if st.BucketWidth > 0 {
		v.Window = spanWords(st.BucketWidth * time.Duration(len(st.Buckets)))
	}
	for _, b := range st.Buckets {
		v.Totals.Requests += b.Requests
		v.Totals.Limited += b.Limited
		v.Totals.Hits += b.Hits
		v.Totals.Misses += b.Misses
		v.Totals.Bypassed += b.Bypassed
	}
	if r := v.Totals.HitRatio(); r >= 0 {
		v.HitRatio = percent(r)
	}
	if v.Totals.Requests > 0 {
		v.LimitedPct = percent(float64(v.Totals.Limited) / float64(v.Totals.Requests))
	}
	buckets, width := coarsen(st.Buckets, st.BucketWidth, maxChartSlots)
	v.Unit = unitWords(width)
	if v.Limited = limitedChart(buckets, width); v.Limited != nil {
		v.Limited.Window = v.Window
	}
	if v.Hits = hitRatioChart(buckets, width); v.Hits != nil {
		v.Hits.Window = v.Window
	}
	v.TopWindow = spanWords(st.TopLimitedWindow)
	for _, c := range st.TopLimited {
		if len(v.TopLimited) == maxTopLimited {
			break
		}
		// The limiter's estimates may run high, and its window lies
		// inside the buckets': no client was limited more often than
		// all of them together.
		c.Limited = min(c.Limited, v.Totals.Limited)
		if c.Limited > 0 {
			v.TopLimited = append(v.TopLimited, c)
		}
	}
	return v
}
