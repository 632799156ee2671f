package reports

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/pgrehearse/pgrehearse/compare"
	"github.com/pgrehearse/pgrehearse/compare/metrics"
)

//go:embed html.tmpl
var htmlSource string

var htmlTemplate = template.Must(template.New("report").Parse(htmlSource))

// HTML renders c as one self-contained page: the same sections as the
// text report, and a chart per metric with both clusters on the time
// since their window's start, the gates' thresholds drawn and the
// warm-up shaded. Nothing is loaded from the network, so the file can
// be attached to a ticket and opened offline.
func HTML(w io.Writer, c *compare.Comparison, o Options) error {
	type htmlTable struct {
		table
		Right map[int]bool
	}
	type htmlSection struct {
		section
		Tables []htmlTable
		Charts []template.HTML
	}
	var secs []htmlSection
	for i, s := range layout(c, o) {
		if i == 0 {
			continue // the verdict is the banner
		}
		hs := htmlSection{section: s}
		for _, t := range s.tables {
			ht := htmlTable{table: t, Right: map[int]bool{}}
			for _, r := range t.right {
				ht.Right[r] = true
			}
			hs.Tables = append(hs.Tables, ht)
		}
		if s.charts {
			for _, m := range c.Metrics {
				hs.Charts = append(hs.Charts, chart(m, c.Gates))
			}
		}
		secs = append(secs, hs)
	}
	data := struct {
		C        *compare.Comparison
		Class    string
		Sections []htmlSection
	}{c, strings.ToLower(strings.ReplaceAll(c.Verdict.Result, "-", "")), secs}
	return htmlTemplate.Execute(w, data)
}

// Exported views of the layout for the template, which cannot read
// unexported fields.
func (s section) Title() string   { return s.title }
func (s section) Lines() []string { return s.lines }
func (s section) Notes() []string { return s.notes }
func (t table) Caption() string   { return t.caption }
func (t table) Header() []string  { return t.header }
func (t table) Rows() [][]string  { return t.rows }
func (t table) Class() string     { return t.class }

// RowClass is the class of row i, for gate statuses.
func (t table) RowClass(i int) string {
	if i < len(t.rowClass) {
		return t.rowClass[i]
	}
	return ""
}

// Chart geometry, in SVG user units.
const (
	chartW, chartH                   = 760.0, 240.0
	padL, padR, padT, padB           = 64.0, 16.0, 28.0, 36.0
	baselineColour, candidateColour  = "#2563eb", "#ea580c"
	thresholdColour, warmupFillColor = "#dc2626", "#e5e7eb"
)

// chart draws one metric as an inline SVG line chart. It is written by
// hand because a chart is a few polylines, and the report must not load
// a charting script from anywhere.
func chart(m compare.Metric, gates []compare.GateResult) template.HTML {
	var b strings.Builder
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }
	// Extents over both series and every threshold on this metric.
	xmax, ymax := m.WarmupS, 0.0
	series := []*metrics.Aligned{m.BaselineSeries, m.CandidateSeries}
	for _, s := range series {
		if s == nil {
			continue
		}
		for i, off := range s.Offsets {
			xmax = math.Max(xmax, (off + s.Period).Seconds())
			ymax = math.Max(ymax, s.Values[i])
		}
	}
	type line struct {
		y    float64
		expr string
	}
	var lines []line
	for _, g := range gates {
		if strings.HasPrefix(g.Name, m.Name+".") && g.Threshold != nil {
			lines = append(lines, line{*g.Threshold, g.Expr})
			ymax = math.Max(ymax, *g.Threshold)
		}
	}
	if xmax <= 0 {
		xmax = 1
	}
	ymax = niceCeil(ymax * 1.05)
	x := func(s float64) float64 { return padL + s/xmax*(chartW-padL-padR) }
	y := func(v float64) float64 { return chartH - padB - v/ymax*(chartH-padT-padB) }

	fmt.Fprintf(&b, `<figure class="chart"><svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %s %s" role="img" aria-label="%s">`, f(chartW), f(chartH), template.HTMLEscapeString(m.Name))
	fmt.Fprintf(&b, `<text x="%s" y="16" class="title">%s (%s)</text>`, f(padL), template.HTMLEscapeString(m.Name), template.HTMLEscapeString(m.Unit))
	if m.WarmupS > 0 {
		fmt.Fprintf(&b, `<rect x="%s" y="%s" width="%s" height="%s" fill="%s"/><text x="%s" y="%s" class="warmup">warm-up (not counted)</text>`,
			f(x(0)), f(padT), f(x(math.Min(m.WarmupS, xmax))-x(0)), f(chartH-padT-padB), warmupFillColor, f(x(0)+4), f(padT+12))
	}
	// Axes and ticks.
	fmt.Fprintf(&b, `<line x1="%s" y1="%s" x2="%s" y2="%s" class="axis"/>`, f(padL), f(chartH-padB), f(chartW-padR), f(chartH-padB))
	fmt.Fprintf(&b, `<line x1="%s" y1="%s" x2="%s" y2="%s" class="axis"/>`, f(padL), f(padT), f(padL), f(chartH-padB))
	for i := 0; i <= 4; i++ {
		v := ymax * float64(i) / 4
		fmt.Fprintf(&b, `<line x1="%s" y1="%s" x2="%s" y2="%s" class="grid"/><text x="%s" y="%s" class="ytick">%s</text>`,
			f(padL), f(y(v)), f(chartW-padR), f(y(v)), f(padL-6), f(y(v)+4), fnum(v))
	}
	step := niceStep(xmax / 6)
	for s := 0.0; s <= xmax+1e-9; s += step {
		fmt.Fprintf(&b, `<text x="%s" y="%s" class="xtick">%s</text>`, f(x(s)), f(chartH-padB+16), secs(s))
	}
	fmt.Fprintf(&b, `<text x="%s" y="%s" class="xtick">time since start (workload time)</text>`, f((padL+chartW-padR)/2), f(chartH-4))
	for _, l := range lines {
		fmt.Fprintf(&b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-dasharray="6 4" class="threshold"/><text x="%s" y="%s" class="thlabel" fill="%s">%s</text>`,
			f(padL), f(y(l.y)), f(chartW-padR), f(y(l.y)), thresholdColour, f(chartW-padR-4), f(y(l.y)-4), thresholdColour, template.HTMLEscapeString(l.expr))
	}
	for i, s := range series {
		colour, name := baselineColour, "baseline"
		if i == 1 {
			colour, name = candidateColour, "candidate"
		}
		if s == nil || len(s.Values) == 0 {
			fmt.Fprintf(&b, `<text x="%s" y="%s" class="missing" fill="%s">no %s data</text>`, f((padL+chartW-padR)/2), f(padT+30+float64(i)*18), colour, name)
			continue
		}
		var pts []string
		for j, off := range s.Offsets {
			pts = append(pts, f(x((off+s.Period/2).Seconds()))+","+f(y(s.Values[j])))
		}
		fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="2" class="%s"/>`, strings.Join(pts, " "), colour, name)
	}
	// Legend.
	lx := chartW - padR - 250
	fmt.Fprintf(&b, `<rect x="%s" y="6" width="12" height="4" fill="%s"/><text x="%s" y="12" class="legend">baseline (capture)</text>`, f(lx), baselineColour, f(lx+16))
	fmt.Fprintf(&b, `<rect x="%s" y="6" width="12" height="4" fill="%s"/><text x="%s" y="12" class="legend">candidate (replay)</text>`, f(lx+130), candidateColour, f(lx+146))
	b.WriteString(`</svg></figure>`)
	return template.HTML(b.String())
}

// niceStep rounds a time step in seconds up to one a clock reads well.
func niceStep(v float64) float64 {
	for _, s := range []float64{1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400} {
		if s >= v {
			return s
		}
	}
	return niceCeil(v)
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten, for axis ends
// and tick steps people can read.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}
