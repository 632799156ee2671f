package reports

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func renderHTML(t *testing.T) string {
	t.Helper()
	var b bytes.Buffer
	if err := HTML(&b, fixture(), Options{}); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestHTMLGolden(t *testing.T) {
	golden(t, "report.html", []byte(renderHTML(t)))
}

// TestHTMLSelfContained: the page loads nothing from anywhere, and every
// part the reader needs is in it.
func TestHTMLSelfContained(t *testing.T) {
	page := renderHTML(t)
	// The only URL allowed is SVG's namespace, which is a name, not a
	// fetch.
	for _, m := range regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}[^"' )]*`).FindAllString(page, -1) {
		if m != "http://www.w3.org/2000/svg" {
			t.Errorf("external reference %q", m)
		}
	}
	for _, bad := range []string{"<script", "<link", "@import", "<img", "url("} {
		if strings.Contains(strings.ToLower(page), bad) {
			t.Errorf("page contains %q", bad)
		}
	}
	if n := strings.Count(page, "<svg"); n != 4 {
		t.Errorf("%d charts, want one per metric (4)", n)
	}
	for _, want := range []string{
		`<header class="verdict nogo">`, "<h1>NO-GO</h1>",
		"warm-up (not counted)",
		`class="threshold"`, "cpu.p95 &lt;= baseline * 1.10", // the threshold line of the CPU gate, labelled
		"no candidate data", // replica_lag has no candidate series
		`<table class="blocker">`, "42883",
		`<tr class="fail">`, `<tr class="inconclusive">`,
		"Replay fidelity", "Query latency",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	// Query text is escaped, never markup.
	if strings.Contains(page, "(now(), ?, ?)</td>") == false {
		t.Error("normalised query text missing from the latency table")
	}
}

// TestHTMLInBrowser opens the report in headless Chromium: it must render
// (a real page, not blank), show the red NO-GO banner and the key text.
func TestHTMLInBrowser(t *testing.T) {
	browser := os.Getenv("PGREHEARSE_CHROMIUM")
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
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
		t.Fatal("no Chromium to look at the HTML report with: install Debian's chromium package (or set PGREHEARSE_NO_BROWSER=1 to skip this test locally)")
	}
	dir := t.TempDir()
	page := filepath.Join(dir, "report.html")
	if err := os.WriteFile(page, []byte(renderHTML(t)), 0o644); err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(dir, "shot.png")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	args := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
		"--user-data-dir=" + filepath.Join(dir, "profile"), "--window-size=1280,2400"}
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
	if b := img.Bounds(); b.Dx() != 1280 || b.Dy() != 2400 {
		t.Errorf("screenshot is %v", b)
	}
	inked, red := ink(img)
	// Tables, text and charts cover a good part of a rendered report; a
	// blank or broken page does not.
	if inked < 0.05 {
		t.Errorf("only %.1f%% of the page is drawn on", 100*inked)
	}
	// The NO-GO banner is #b91c1c.
	if red < 0.01 {
		t.Errorf("the red NO-GO banner covers %.2f%% of the page", 100*red)
	}
	dom, err := exec.CommandContext(ctx, browser, append(args, "--dump-dom", "file://"+page)...).Output()
	if err != nil {
		t.Fatalf("chromium --dump-dom: %v", err)
	}
	for _, want := range []string{"NO-GO", "cpu (%)", "42883", "warm-up (not counted)", "errors.new == 0"} {
		if !bytes.Contains(dom, []byte(want)) {
			t.Errorf("rendered page lacks %q", want)
		}
	}
}

// ink returns the share of pixels that are not near-white, and the share
// in the verdict banner's red.
func ink(img image.Image) (inked, red float64) {
	b := img.Bounds()
	var n, ni, nr int
	for y := b.Min.Y; y < b.Max.Y; y += 2 {
		for x := b.Min.X; x < b.Max.X; x += 2 {
			r, g, bl, _ := img.At(x, y).RGBA()
			r, g, bl = r>>8, g>>8, bl>>8
			n++
			if r < 235 || g < 235 || bl < 235 {
				ni++
			}
			if r > 165 && r < 205 && g < 50 && bl < 50 {
				nr++
			}
		}
	}
	return float64(ni) / float64(n), float64(nr) / float64(n)
}
