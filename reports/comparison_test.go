package reports

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"strings"
	"testing"

	"github.com/pgrehearse/pgrehearse/compare"
)

func TestComparisonGolden(t *testing.T) {
	for _, tc := range []struct {
		format, file string
		o            Options
	}{
		{"text", "report.txt", Options{}},
		{"text", "report-ascii.txt", Options{ASCII: true}},
		{"markdown", "report.md", Options{}},
		{"json", "comparison.json", Options{}},
		{"junit", "report.junit.xml", Options{}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			var b bytes.Buffer
			if err := Encode(&b, tc.format, fixture(), tc.o); err != nil {
				t.Fatal(err)
			}
			golden(t, tc.file, b.Bytes())
		})
	}
}

// TestComparisonContent checks what every reader of a report relies on,
// whatever the golden files say.
func TestComparisonContent(t *testing.T) {
	render := func(format string, o Options) string {
		var b bytes.Buffer
		if err := Encode(&b, format, fixture(), o); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	txt := render("text", Options{})
	ascii := render("text", Options{ASCII: true})
	md := render("markdown", Options{})
	for name, s := range map[string]string{"text": txt, "ascii": ascii, "markdown": md} {
		// The verdict comes first.
		if i := strings.Index(s, "NO-GO"); i < 0 || i > 40 {
			t.Errorf("%s: verdict not on top:\n%.200s", name, s)
		}
		order := []string{"Replay fidelity", "Cluster metrics", "Query latency", "Errors", "Gates", "Warnings"}
		last := -1
		for _, h := range order {
			i := strings.Index(s, h)
			if i <= last {
				t.Errorf("%s: section %q missing or out of order", name, h)
			}
			last = i
		}
		for _, want := range []string{"42883", "163,392 of 163,397", "cpu.p95 &lt;= baseline \\* 1.10", "61.57", "n/a"} {
			if name != "markdown" {
				want = strings.NewReplacer(`\*`, "*", "&lt;", "<").Replace(want)
			}
			if !strings.Contains(s, want) {
				t.Errorf("%s: no %q", name, want)
			}
		}
	}
	if !strings.Contains(txt, "✗ FAIL") || !strings.Contains(txt, "✓ pass") {
		t.Error("text: gates not marked with ✓/✗")
	}
	for i, r := range ascii {
		if r > 127 && r != '–' && r != '…' {
			t.Fatalf("ascii: non-ASCII %q at %d", r, i)
		}
	}
	if !strings.Contains(ascii, "FAIL") || !strings.Contains(ascii, "+--") {
		t.Error("ascii: no ASCII table or FAIL mark")
	}
	// Markdown tables must not be broken by the query text's symbols.
	if !strings.Contains(md, "| `SELECT abalance FROM pgbench_accounts WHERE aid = ?`") {
		t.Errorf("markdown: query cell not rendered as code")
	}
	var back compare.Comparison
	if err := json.Unmarshal([]byte(render("json", Options{})), &back); err != nil || back.Verdict.Result != compare.NOGO || len(back.Metrics) != 4 ||
		back.Metrics[0].CandidateSeries == nil || len(back.Metrics[0].CandidateSeries.Values) != 36 {
		t.Errorf("json does not round-trip: %v %+v", err, back.Verdict)
	}
	var suite struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
		Errors   int `xml:"errors,attr"`
		Cases    []struct {
			Name    string    `xml:"name,attr"`
			Failure *struct{} `xml:"failure"`
		} `xml:"testcase"`
	}
	if err := xml.Unmarshal([]byte(render("junit", Options{})), &suite); err != nil {
		t.Fatal(err)
	}
	if suite.Tests != 4 || suite.Failures != 2 || suite.Errors != 1 || suite.Cases[1].Name != "cpu.p95 <= baseline * 1.10" || suite.Cases[1].Failure == nil || suite.Cases[2].Failure != nil {
		t.Errorf("junit: %+v", suite)
	}
	if err := Encode(&bytes.Buffer{}, "pdf", fixture(), Options{}); err == nil || !strings.Contains(err.Error(), "markdown") {
		t.Errorf("unknown format: %v", err)
	}
}

// TestComparisonSparse: a document with nothing but a verdict (a hand-made
// or damaged one, read back by pgrehearse report) renders in every format.
func TestComparisonSparse(t *testing.T) {
	c := &compare.Comparison{Format: "pgrehearse-comparison", Version: 1, Verdict: compare.Verdict{Result: compare.INCONCLUSIVE}}
	for name := range encoders {
		var b bytes.Buffer
		if err := Encode(&b, name, c, Options{}); err != nil || b.Len() == 0 {
			t.Errorf("%s: %v, %d bytes", name, err, b.Len())
		}
	}
}
