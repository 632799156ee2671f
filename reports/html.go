package reports

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"math"
	"sort"
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
	// With --show-params the errors carry production values, and the
	// footer must not promise otherwise.
	params := false
	for _, e := range c.Errors.New {
		params = params || e.Example != nil
	}
	params = params || c.Divergence != nil && c.Divergence.Values
	data := struct {
		C        *compare.Comparison
		Class    string
		Sections []htmlSection
		Params   bool
	}{c, strings.ToLower(strings.ReplaceAll(string(c.Verdict.Result), "-", "")), secs, params}
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
	controlColour                    = "#059669"
	thresholdColour, warmupFillColor = "#dc2626", "#e5e7eb"
)

// chart draws one metric as an inline SVG line chart. It is written by
// hand because a chart is a few polylines, and the report must not load
// a charting script from anywhere. The document may come from a file
// edited by hand, so series are taken as they are: lengths that differ,
// values that are not numbers and negative values are drawn around, not
// trusted.
func chart(m compare.Metric, gates []compare.GateResult) template.HTML {
	var b strings.Builder
	f := svgNum
	esc := template.HTMLEscapeString

	sides, xmax, ymin, ymax := chartRuns(m)
	lines := chartThresholds(m, gates)
	for _, l := range lines {
		ymin, ymax = math.Min(ymin, l.y), math.Max(ymax, l.y)
	}
	if xmax <= 0 {
		xmax = 1
	}
	// About five round ticks, the axis ending on one a little above the
	// highest line, so that a flat series is not lost in the frame.
	step := niceCeil((ymax - ymin) / 5)
	ymax = math.Max(math.Ceil((ymax+(ymax-ymin)*0.03)/step)*step, math.Floor(ymin/step)*step+step)
	ymin = math.Floor(ymin/step) * step
	p := plot{xmax: xmax, ymin: ymin, ymax: ymax, step: step}

	fmt.Fprintf(&b, `<figure class="chart"><svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %s %s" role="img" aria-label="%s">`, f(chartW), f(chartH), esc(m.Name+" ("+m.Unit+"), baseline and candidate over time"))
	fmt.Fprintf(&b, `<text x="%s" y="16" class="title">%s (%s)</text>`, f(padL), esc(m.Name), esc(m.Unit))
	// Labels go over the lines, on a white halo, so that a line running
	// through one does not hide it.
	var labels strings.Builder
	p.frame(&b, &labels, m.WarmupS)
	p.thresholds(&b, &labels, lines)
	p.series(&b, &labels, sides, m.ControlSeries != nil)
	b.WriteString(labels.String())
	chartLegend(&b, m.ControlSeries != nil)
	b.WriteString(`</svg></figure>`)
	return template.HTML(b.String())
}

// svgNum writes a coordinate for SVG.
func svgNum(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

// chartPoint is a point of a series: seconds since the start, and value.
type chartPoint struct{ s, v float64 }

// chartLine is a gate's threshold drawn across the chart.
type chartLine struct {
	y    float64
	expr string
}

// chartRuns returns each side (baseline, candidate, control) as runs of
// finite points: a value that is not a number breaks the line instead of
// sending it off the chart. It returns the bounds of the points too.
func chartRuns(m compare.Metric) (sides [3][][]chartPoint, xmax, ymin, ymax float64) {
	xmax = math.Max(m.WarmupS, 0)
	for i, s := range []*metrics.Aligned{m.BaselineSeries, m.CandidateSeries, m.ControlSeries} {
		if s == nil {
			continue
		}
		var run []chartPoint
		for j := 0; j < min(len(s.Offsets), len(s.Values)); j++ {
			v, off := s.Values[j], s.Offsets[j].Seconds()
			if math.IsNaN(v) || math.IsInf(v, 0) || off < 0 {
				if len(run) > 0 {
					sides[i] = append(sides[i], run)
				}
				run = nil
				continue
			}
			// A bucket's mean stands for the whole bucket: drawn at its
			// middle, and the axis runs to the last bucket's end.
			run = append(run, chartPoint{off + s.Period.Seconds()/2, v})
			xmax = math.Max(xmax, off+s.Period.Seconds())
			ymin, ymax = math.Min(ymin, v), math.Max(ymax, v)
		}
		if len(run) > 0 {
			sides[i] = append(sides[i], run)
		}
	}
	return sides, xmax, ymin, ymax
}

// chartThresholds returns the finite thresholds of the metric's gates.
func chartThresholds(m compare.Metric, gates []compare.GateResult) []chartLine {
	var lines []chartLine
	for _, g := range gates {
		if strings.HasPrefix(g.Name, m.Name+".") && g.Threshold != nil && !math.IsNaN(*g.Threshold) && !math.IsInf(*g.Threshold, 0) {
			lines = append(lines, chartLine{*g.Threshold, g.Expr})
		}
	}
	return lines
}

// plot maps a chart's seconds and values to SVG coordinates.
type plot struct {
	xmax, ymin, ymax, step float64
}

func (p plot) x(s float64) float64 { return padL + s/p.xmax*(chartW-padL-padR) }
func (p plot) y(v float64) float64 {
	return chartH - padB - (v-p.ymin)/(p.ymax-p.ymin)*(chartH-padT-padB)
}

// frame draws the warm-up band, the grid, the ticks and the axes.
func (p plot) frame(b, labels *strings.Builder, warmupS float64) {
	f, x, y := svgNum, p.x, p.y
	if warmupS > 0 {
		fmt.Fprintf(b, `<rect x="%s" y="%s" width="%s" height="%s" fill="%s" class="warmup"/>`,
			f(x(0)), f(padT), f(x(math.Min(warmupS, p.xmax))-x(0)), f(chartH-padT-padB), warmupFillColor)
		fmt.Fprintf(labels, `<text x="%s" y="%s" class="warmup">warm-up (not counted)</text>`, f(x(0)+4), f(padT+12))
	}
	// Grid and ticks.
	for v := p.ymin; v <= p.ymax+p.step/2; v += p.step {
		fmt.Fprintf(b, `<line x1="%s" y1="%s" x2="%s" y2="%s" class="grid"/><text x="%s" y="%s" class="ytick">%s</text>`,
			f(padL), f(y(v)), f(chartW-padR), f(y(v)), f(padL-6), f(y(v)+4), tickLabel(v, p.step, math.Max(-p.ymin, p.ymax)))
	}
	xstep := niceStep(p.xmax / 6)
	for s := 0.0; s <= p.xmax+1e-9; s += xstep {
		fmt.Fprintf(b, `<line x1="%s" y1="%s" x2="%s" y2="%s" class="axis"/><text x="%s" y="%s" class="xtick">%s</text>`,
			f(x(s)), f(chartH-padB), f(x(s)), f(chartH-padB+4), f(x(s)), f(chartH-padB+16), clock(s))
	}
	fmt.Fprintf(b, `<line x1="%s" y1="%s" x2="%s" y2="%s" class="axis"/>`, f(padL), f(chartH-padB), f(chartW-padR), f(chartH-padB))
	fmt.Fprintf(b, `<line x1="%s" y1="%s" x2="%s" y2="%s" class="axis"/>`, f(padL), f(padT), f(padL), f(chartH-padB))
	fmt.Fprintf(b, `<text x="%s" y="%s" class="xtick">time since start (workload time)</text>`, f((padL+chartW-padR)/2), f(chartH-4))
}

// thresholds draws a dashed line for each threshold, labelled with its
// gate and value; labels of close lines are moved apart so both can be
// read.
func (p plot) thresholds(b, labels *strings.Builder, lines []chartLine) {
	f := svgNum
	sort.SliceStable(lines, func(i, j int) bool { return lines[i].y > lines[j].y })
	prev := math.Inf(-1)
	for _, l := range lines {
		ly := math.Max(p.y(l.y)-4, prev+13)
		prev = ly
		fmt.Fprintf(b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-dasharray="6 4" class="threshold"/>`,
			f(padL), f(p.y(l.y)), f(chartW-padR), f(p.y(l.y)), thresholdColour)
		fmt.Fprintf(labels, `<text x="%s" y="%s" class="thlabel">%s (%s)</text>`,
			f(chartW-padR-4), f(ly), template.HTMLEscapeString(l.expr), opt(&l.y))
	}
}

// series draws each side's runs, or says that a side has no data.
func (p plot) series(b, labels *strings.Builder, sides [3][][]chartPoint, control bool) {
	f, x, y := svgNum, p.x, p.y
	for i, runs := range sides {
		colour, name := baselineColour, "baseline"
		switch i {
		case 1:
			colour, name = candidateColour, "candidate"
		case 2:
			colour, name = controlColour, "control"
		}
		if len(runs) == 0 && i == 2 && !control {
			continue // no control at all
		}
		if len(runs) == 0 {
			fmt.Fprintf(labels, `<text x="%s" y="%s" class="missing %s">no %s data</text>`, f((padL+chartW-padR)/2), f(padT+30+float64(i)*18), name, name)
			continue
		}
		for _, run := range runs {
			if len(run) == 1 {
				// A lone point makes no line; a dot keeps it seen.
				fmt.Fprintf(b, `<circle cx="%s" cy="%s" r="2.5" fill="%s" class="%s"/>`, f(x(run[0].s)), f(y(run[0].v)), colour, name)
				continue
			}
			pts := make([]string, len(run))
			for j, pt := range run {
				pts[j] = f(x(pt.s)) + "," + f(y(pt.v))
			}
			fmt.Fprintf(b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="2" class="%s"/>`, strings.Join(pts, " "), colour, name)
		}
	}
}

// chartLegend names the sides' colours.
func chartLegend(b *strings.Builder, control bool) {
	f := svgNum
	lx := chartW - padR - 250
	fmt.Fprintf(b, `<rect x="%s" y="6" width="12" height="4" fill="%s"/><text x="%s" y="12" class="legend">baseline (capture)</text>`, f(lx), baselineColour, f(lx+16))
	fmt.Fprintf(b, `<rect x="%s" y="6" width="12" height="4" fill="%s"/><text x="%s" y="12" class="legend">candidate (replay)</text>`, f(lx+130), candidateColour, f(lx+146))
	if control {
		fmt.Fprintf(b, `<rect x="%s" y="20" width="12" height="4" fill="%s"/><text x="%s" y="26" class="legend">control (replay)</text>`, f(lx+130), controlColour, f(lx+146))
	}
}

// tickLabel formats an axis value with as many decimals as the step
// needs, so that every label on an axis reads alike; big values (bytes,
// IOPS of large clusters) get a k, M or G suffix to stay short.
func tickLabel(v, step, span float64) string {
	suffix := ""
	for _, u := range []struct {
		from, div float64
		s         string
	}{{1e9, 1e9, "G"}, {1e6, 1e6, "M"}, {1e4, 1e3, "k"}} {
		if span >= u.from {
			v, step, suffix = v/u.div, step/u.div, u.s
			break
		}
	}
	dec := 0
	if step < 1 {
		dec = int(math.Ceil(-math.Log10(step) - 1e-9))
	}
	if math.Abs(v) < step/2 {
		return "0"
	}
	return strconv.FormatFloat(v, 'f', dec, 64) + suffix
}

// clock formats seconds since start as a clock reads them: 30s, 2m,
// 1m30s, 1h, 1h15m.
func clock(s float64) string {
	t := int64(math.Round(s))
	h, m, sec := t/3600, t/60%60, t%60
	var b strings.Builder
	if h > 0 {
		fmt.Fprintf(&b, "%dh", h)
	}
	if m > 0 {
		fmt.Fprintf(&b, "%dm", m)
	}
	if sec > 0 || t == 0 {
		fmt.Fprintf(&b, "%ds", sec)
	}
	return b.String()
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
	if v <= 0 || math.IsNaN(v) || math.IsInf(v, 0) {
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
