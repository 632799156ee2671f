package reports

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pgrehearse/pgrehearse/compare"
	"github.com/pgrehearse/pgrehearse/compare/metrics"
)

func renderHTML(t *testing.T, c *compare.Comparison) string {
	t.Helper()
	var b bytes.Buffer
	if err := HTML(&b, c, Options{}); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// charts returns each chart of page by metric name.
func charts(page string) map[string]string {
	out := map[string]string{}
	for _, m := range regexp.MustCompile(`(?s)<svg [^>]*aria-label="([a-z_]+) .*?</svg>`).FindAllStringSubmatch(page, -1) {
		out[m[1]] = m[0]
	}
	return out
}

func TestHTMLGolden(t *testing.T) {
	golden(t, "report.html", []byte(renderHTML(t, fixture())))
}

// TestHTMLSelfContained: the page loads nothing from anywhere, and every
// part the reader needs is in it.
func TestHTMLSelfContained(t *testing.T) {
	page := renderHTML(t, fixture())
	// The only URL allowed is SVG's namespace, which is a name, not a
	// fetch.
	for _, m := range regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}[^"' )]*`).FindAllString(page, -1) {
		if m != "http://www.w3.org/2000/svg" {
			t.Errorf("external reference %q", m)
		}
	}
	for _, bad := range []string{"<script", "<link", "@import", "<img", "url(", "src=", "@font-face"} {
		if strings.Contains(strings.ToLower(page), bad) {
			t.Errorf("page contains %q", bad)
		}
	}
	cs := charts(page)
	for _, m := range fixture().Metrics {
		svg, ok := cs[m.Name]
		if !ok {
			t.Errorf("no chart for %s", m.Name)
			continue
		}
		for _, want := range []string{"warm-up (not counted)", `class="warmup"`, `class="ytick"`, `class="xtick">1m<`, "baseline (capture)", "candidate (replay)", "(" + m.Unit + ")"} {
			if !strings.Contains(svg, want) {
				t.Errorf("%s chart lacks %q", m.Name, want)
			}
		}
	}
	if len(cs) != len(fixture().Metrics) {
		t.Errorf("%d charts, want one per metric (%d)", len(cs), len(fixture().Metrics))
	}
	// The CPU gate's threshold, labelled, in the CPU chart only: no other
	// metric has a gate with a threshold.
	if !strings.Contains(cs["cpu"], `class="threshold"`) || !strings.Contains(cs["cpu"], "cpu.p95 &lt;= baseline * 1.10 (61.57)") {
		t.Error("the cpu chart lacks the threshold line of cpu.p95 <= baseline * 1.10")
	}
	for name, svg := range cs {
		if name != "cpu" && strings.Contains(svg, `class="threshold"`) {
			t.Errorf("the %s chart has a threshold line", name)
		}
	}
	if !strings.Contains(cs["replica_lag"], "no candidate data") || strings.Contains(cs["replica_lag"], `class="candidate"`) {
		t.Error("the replica_lag chart does not say it has no candidate data")
	}
	for _, want := range []string{
		`<header class="verdict nogo">`, "<h1>NO-GO</h1>", `.verdict.nogo { background: #b91c1c; }`,
		`<table class="blocker">`, "<td>42883</td>",
		`<tr class="fail"><td>✗ FAIL</td>`, `<tr class="inconclusive"><td>? inconclusive</td>`, `<tr class="pass"><td>✓ pass</td>`,
		"Replay fidelity", "Query latency", "Errors", "Gates", "Warnings",
		"pgrehearse-comparison version 2, generated 2026-11-20T15:10:00Z",
		"literals and parameter values are not in this report",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	// The sections come in the order the reader needs them.
	last := -1
	for _, h := range []string{"<h1>NO-GO</h1>", "<h2>Replay fidelity", "<h2>Cluster metrics", "<h2>Query latency", "<h2>Errors", "<h2>Gates", "<h2>Warnings", "<footer>"} {
		i := strings.Index(page, h)
		if i < last {
			t.Errorf("%q is out of order", h)
		}
		last = i
	}
	// Query text is escaped text, never markup.
	if !strings.Contains(page, "<td>INSERT INTO audit (at, who, what) VALUES (now(), ?, ?)</td>") {
		t.Error("normalised query text missing from the latency table")
	}
}

// TestHTMLEscapes: text from the document (query text, gate notes,
// warnings) is rendered as text, in tables and in charts.
func TestHTMLEscapes(t *testing.T) {
	c := fixture()
	c.Latency.Top[0].Text = `SELECT '</td><script>alert(1)</script>' FROM t`
	c.Warnings = append(c.Warnings, `<img src=x onerror=alert(1)>`)
	c.Metrics[0].Unit = `<b>%</b>`
	page := renderHTML(t, c)
	for _, bad := range []string{"<script>", "<img", "<b>"} {
		if strings.Contains(page, bad) {
			t.Errorf("%q reached the page unescaped", bad)
		}
	}
	if !strings.Contains(page, "&lt;script&gt;") || !strings.Contains(page, "(&lt;b&gt;%&lt;/b&gt;)") {
		t.Error("escaped text missing")
	}
}

// TestHTMLVerdictColours: each verdict has its own banner colour.
func TestHTMLVerdictColours(t *testing.T) {
	for result, want := range map[compare.Result]string{
		compare.GO: `<header class="verdict go">`, compare.NOGO: `<header class="verdict nogo">`, compare.INCONCLUSIVE: `<header class="verdict inconclusive">`,
	} {
		c := fixture()
		c.Verdict = compare.Verdict{Result: result, Reason: "because"}
		page := renderHTML(t, c)
		if !strings.Contains(page, want) || !strings.Contains(page, "<h1>"+string(result)+"</h1>") {
			t.Errorf("%s: page lacks %q", result, want)
		}
	}
	page := renderHTML(t, fixture())
	for _, css := range []string{".verdict.go { background: #15803d; }", ".verdict.inconclusive { background: #b45309; }"} {
		if !strings.Contains(page, css) {
			t.Errorf("style lacks %q", css)
		}
	}
}

// TestHTMLMissingValues: a document with holes (no stats, no
// percentiles, no observed value, series damaged by hand) renders n/a
// and draws what it can; it never panics or prints NaN.
func TestHTMLMissingValues(t *testing.T) {
	c := fixture()
	c.Latency.Baseline, c.Latency.Candidate = nil, nil
	c.Latency.Top[0].Baseline, c.Latency.Top[0].Candidate = nil, nil
	c.Gates[1].Observed, c.Gates[1].Threshold = nil, nil
	cpu := &c.Metrics[0]
	cpu.Baseline, cpu.Candidate = nil, nil
	cpu.BaselineSeries = nil
	cs := *cpu.CandidateSeries
	cs.Values = append([]float64{math.NaN(), -5, math.Inf(1)}, cs.Values[3:10]...) // fewer values than offsets
	cpu.CandidateSeries = &cs
	c.Metrics[1].CandidateSeries = &metrics.Aligned{Period: 10 * time.Second, Offsets: []time.Duration{time.Minute}, Values: []float64{7}}
	c.Metrics[2].BaselineSeries = &metrics.Aligned{}
	c.Metrics = append(c.Metrics, compare.Metric{Name: "freeable_memory", Unit: "bytes", WarmupS: 0,
		BaselineSeries: &metrics.Aligned{Period: time.Minute, Offsets: []time.Duration{0, time.Minute}, Values: []float64{8.1e9, 7.9e9}}})
	page := renderHTML(t, c)
	if strings.Contains(page, "NaN") || strings.Contains(page, "Inf") {
		t.Error("page shows NaN or Inf")
	}
	ch := charts(page)
	if !strings.Contains(ch["cpu"], "no baseline data") || !strings.Contains(ch["cpu"], `class="candidate"`) {
		t.Errorf("cpu chart: want the candidate drawn and no baseline said:\n%s", ch["cpu"])
	}
	if !strings.Contains(ch["cpu"], `class="ytick">-`) {
		t.Error("cpu chart: the axis does not reach down to the negative value")
	}
	if !strings.Contains(ch["read_iops"], `<circle`) {
		t.Error("read_iops chart: a lone candidate point is not drawn")
	}
	if !strings.Contains(ch["write_iops"], "no baseline data") {
		t.Error("write_iops chart: an empty baseline series is not said")
	}
	if !strings.Contains(ch["freeable_memory"], `class="ytick">8G<`) || strings.Contains(ch["freeable_memory"], "warm-up") {
		t.Errorf("freeable_memory chart: want G ticks and no warm-up band:\n%s", ch["freeable_memory"])
	}
	for _, want := range []string{
		`<tr><td>baseline</td><td class="num">n/a</td>`,
		`<tr><td>cpu</td><td>%</td><td class="num">n/a</td>`,
		`<td>cpu.p95 &lt;= baseline * 1.10</td><td class="num">n/a</td><td class="num">n/a</td>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	// No metrics at all: the section says so, and there is no chart.
	c.Metrics = nil
	page = renderHTML(t, c)
	if strings.Contains(page, "<svg") || !strings.Contains(page, "No metric source was given") {
		t.Error("a document without metrics: want no chart and a sentence saying why")
	}
}

// TestHTMLShowParams: when the errors carry production values, the
// footer says so instead of promising there are none.
func TestHTMLShowParams(t *testing.T) {
	c := fixture()
	c.Errors.New[0].Example = &compare.Example{Session: 3, Index: 7, Text: "SELECT to_tsvector($1, body) FROM docs WHERE id = $2", Params: []string{"'english'", "42"}}
	page := renderHTML(t, c)
	if strings.Contains(page, "parameter values are not in this report") || !strings.Contains(page, "treat this report as production data") {
		t.Error("the footer does not warn that production values are in the report")
	}
}

// TestHTMLInBrowser opens the report in headless Chromium: it must render
// (a real page, not blank), show the red NO-GO banner and the key text.
func TestHTMLInBrowser(t *testing.T) {
	browser := os.Getenv("PGREHEARSE_CHROMIUM")
	for _, name := range []string{"chromium", "chromium-browser"} {
		if browser != "" {
			break
		}
		if p, err := exec.LookPath(name); err == nil {
			browser = p
		}
	}
	if browser == "" {
		if os.Getenv("PGREHEARSE_NO_BROWSER") == "1" {
			t.Skip("PGREHEARSE_NO_BROWSER=1")
		}
		t.Fatal("no Chromium to look at the HTML report with: install Debian's chromium package (apt-get install chromium), set PGREHEARSE_CHROMIUM to a Chromium binary, or set PGREHEARSE_NO_BROWSER=1 to skip this test locally")
	}
	dir := t.TempDir()
	page := filepath.Join(dir, "report.html")
	if err := os.WriteFile(page, []byte(renderHTML(t, fixture())), 0o644); err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(dir, "shot.png")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const width, height = 1280, 4000
	args := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
		"--user-data-dir=" + filepath.Join(dir, "profile"), "--window-size=1280,4000"}
	if out, err := exec.CommandContext(ctx, browser, append(args, "--screenshot="+shot, "file://"+page)...).CombinedOutput(); err != nil {
		t.Fatalf("chromium --screenshot: %v\n%s", err, out)
	}
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != width || b.Dy() != height {
		t.Errorf("screenshot is %v, want %dx%d", b, width, height)
	}
	inked, red, blue, orange := ink(img)
	// Tables, text and charts cover a good part of a rendered report; a
	// blank or broken page does not.
	if inked < 0.05 {
		t.Errorf("only %.1f%% of the page is drawn on", 100*inked)
	}
	// The NO-GO banner is #b91c1c, about 1050×200 px of the page.
	if red < 0.02 {
		t.Errorf("the red NO-GO banner covers %.2f%% of the page", 100*red)
	}
	// Both clusters' lines are drawn.
	if blue < 0.0002 || orange < 0.0002 {
		t.Errorf("chart lines cover %.3f%% (baseline) and %.3f%% (candidate) of the page", 100*blue, 100*orange)
	}
	t.Logf("drawn on %.1f%%, NO-GO red %.2f%%, baseline blue %.3f%%, candidate orange %.3f%%", 100*inked, 100*red, 100*blue, 100*orange)
	dom, err := exec.CommandContext(ctx, browser, append(args, "--dump-dom", "file://"+page)...).Output()
	if err != nil {
		t.Fatalf("chromium --dump-dom: %v", err)
	}
	for _, want := range []string{"<h1>NO-GO</h1>", "cpu (%)", "42883", "warm-up (not counted)", "errors.new == 0", "no candidate data"} {
		if !bytes.Contains(dom, []byte(want)) {
			t.Errorf("rendered page lacks %q", want)
		}
	}
}

// ink returns the shares of pixels that are not near-white, in the
// verdict banner's red, in the baseline's blue and in the candidate's
// orange.
func ink(img image.Image) (inked, red, blue, orange float64) {
	b := img.Bounds()
	var n, ni, nr, nb, no int
	near := func(r, g, bl uint32, c [3]uint32) bool {
		d := func(a, b uint32) uint32 { return max(a, b) - min(a, b) }
		return d(r, c[0]) < 24 && d(g, c[1]) < 24 && d(bl, c[2]) < 24
	}
	// Chromium's screenshots are opaque, so NRGBA and RGBA bytes are the
	// colour itself; reading them directly keeps the scan quick under
	// -race.
	pix := func(x, y int) (r, g, b uint32) {
		var p []uint8
		switch im := img.(type) {
		case *image.NRGBA:
			p = im.Pix[im.PixOffset(x, y):]
		case *image.RGBA:
			p = im.Pix[im.PixOffset(x, y):]
		default:
			r, g, b, _ := img.At(x, y).RGBA()
			return r >> 8, g >> 8, b >> 8
		}
		return uint32(p[0]), uint32(p[1]), uint32(p[2])
	}
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl := pix(x, y)
			n++
			if r < 235 || g < 235 || bl < 235 {
				ni++
			}
			switch {
			case near(r, g, bl, [3]uint32{0xb9, 0x1c, 0x1c}):
				nr++
			case near(r, g, bl, [3]uint32{0x25, 0x63, 0xeb}):
				nb++
			case near(r, g, bl, [3]uint32{0xea, 0x58, 0x0c}):
				no++
			}
		}
	}
	f := func(k int) float64 { return float64(k) / float64(n) }
	return f(ni), f(nr), f(nb), f(no)
}
