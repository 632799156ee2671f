package reports

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/pgrehearse/pgrehearse/compare"
	"github.com/pgrehearse/pgrehearse/compare/metrics"
	"github.com/pgrehearse/pgrehearse/replay"
)

// controlFixture is the fixture with a control replayed beside the
// candidate: its column in the metrics and latency, divergent answers,
// and a collation pre-flight that found an ICU candidate against a libc
// control; judged with the default gates.
func controlFixture() *compare.Comparison {
	c := fixture()
	start := c.Fidelity.ReplayStart
	c.Control = &compare.Control{Results: []string{"control.results.jsonl"}, Target: "host=ctl port=5432 user=postgres database=app", Mode: "concurrent",
		Fidelity: compare.ControlFidelity{ReplayStart: start, ReplayEnd: start.Add(6*time.Minute + 2*time.Second), Statements: 163397, Replayed: 163392, Errors: 5,
			Sessions: 38, LatenessP99MS: 51.8, LatenessMaxMS: 602, LateShare: 0.0008, DurationS: 362},
		Latency: compare.ControlLatency{Basis: "control and candidate: client-side latency of the same replay, each minus its own round trip measured before the replay; replayed at the same time from one schedule",
			Control: &compare.Pcts{Count: 163392, P50: 0.2, P95: 2.1, P99: 6.0}, Candidate: &compare.Pcts{Count: 163392, P50: 0.22, P95: 2.5, P99: 8.1},
			Regressed: []compare.ControlQuery{{Fingerprint: "8f3a1c2b4d5e6f70", Text: "SELECT abalance FROM pgbench_accounts WHERE aid = ?", Calls: 81000,
				Control: &compare.Pcts{Count: 81000, P50: 0.13, P95: 0.42, P99: 0.95}, Candidate: &compare.Pcts{Count: 81000, P50: 0.15, P95: 0.5, P99: 1.2}, RatioP99: 1.26}}},
	}
	for i := range c.Metrics {
		m := &c.Metrics[i]
		if m.Name != metrics.CPU {
			continue
		}
		a := *m.BaselineSeries
		a.Values = append([]float64(nil), a.Values...)
		for j := range a.Values {
			a.Values[j] += 4
		}
		st := metrics.Summarize(a.Points())
		m.Control, m.ControlSeries, m.ControlSource = &st, &a, "pg:control.samples.jsonl"
	}
	c.Divergence = &compare.Divergence{Compared: 154392, Rows: 12, Results: 40, OrderOnly: 31, Errors: 1, NonDeterministic: 9000, Checksums: true,
		ByFingerprint: []compare.DivergenceQuery{
			{Fingerprint: "77aa66bb55cc44dd", Query: "SELECT id, name FROM customers WHERE region = ? ORDER BY name LIMIT ?", Count: 31, Compared: 31, Results: 31, OrderOnly: 31, Kind: "order",
				Example: &compare.DivergenceExample{Example: compare.Example{Session: 12, Index: 40, Text: "SELECT id, name FROM customers WHERE region = ? ORDER BY name LIMIT ?"},
					Control: compare.DivergenceSide{Rows: 10, Checksum: "0a1b2c3d4e5f6a7b", OrderedChecksum: "1122334455667788"}, Candidate: compare.DivergenceSide{Rows: 10, Checksum: "0a1b2c3d4e5f6a7b", OrderedChecksum: "99aabbccddeeff00"}}},
			{Fingerprint: "3344556677889900", Query: "SELECT count(*) FROM customers WHERE name < ?", Count: 21, Compared: 2000, Rows: 12, Results: 9, Kind: "results",
				Example: &compare.DivergenceExample{Example: compare.Example{Session: 3, Index: 7, Text: "SELECT count(*) FROM customers WHERE name < ?"},
					Control: compare.DivergenceSide{Rows: 1, Checksum: "5f5f5f5f5f5f5f5f"}, Candidate: compare.DivergenceSide{Rows: 1, Checksum: "6e6e6e6e6e6e6e6e"}}},
			{Fingerprint: "99aa88bb77cc66dd", Query: "SELECT to_tsvector(?, body) FROM docs WHERE id = ?", Count: 1, Compared: 12, Errors: 1, Kind: "errors",
				Example: &compare.DivergenceExample{Example: compare.Example{Session: 5, Index: 2, Text: "SELECT to_tsvector(?, body) FROM docs WHERE id = ?"},
					Control: compare.DivergenceSide{Rows: 1, Checksum: "0000000000000001"}, Candidate: compare.DivergenceSide{SQLState: "42883"}}},
		}}
	cand := replay.ClusterCollation{Target: "host=cand port=5432", ServerVersion: "17.2", ICUVersion: "153.120", Databases: []replay.DatabaseCollation{{Name: "app", Provider: "icu", Collate: "C", Ctype: "C", ICULocale: "en-US"}}}
	ctl := replay.ClusterCollation{Target: "host=ctl port=5432", ServerVersion: "15.18", LibcVersion: "2.36", ICUVersion: "153.120", Databases: []replay.DatabaseCollation{{Name: "app", Provider: "libc", Collate: "en_US.utf8", Ctype: "en_US.utf8", Version: "2.36", ActualVersion: "2.36"}}}
	c.Collation = &replay.CollationCheck{Candidate: cand, Control: &ctl, IndexesChecked: true,
		Differences: []string{"database app: default collation ICU en-US (LC_COLLATE C) on the candidate, libc en_US.utf8 on the control"},
		Indexes: []replay.CollationIndex{{Database: "app", Index: "customers_name", Table: "customers", Method: "btree", Definition: "CREATE INDEX customers_name ON public.customers USING btree (name)",
			Reason: "database app: default collation ICU en-US (LC_COLLATE C) on the candidate, libc en_US.utf8 on the control", Check: "ok"}}}
	c.Judge(nil)
	return c
}

func TestControlGolden(t *testing.T) {
	for _, tc := range []struct{ format, file string }{{"text", "report-control.txt"}, {"markdown", "report-control.md"}, {"html", "report-control.html"}} {
		t.Run(tc.file, func(t *testing.T) {
			var b bytes.Buffer
			if err := Encode(&b, tc.format, controlFixture(), Options{}); err != nil {
				t.Fatal(err)
			}
			golden(t, tc.file, b.Bytes())
		})
	}
}

// TestControlContent: with a control, every text format shows the
// divergence after the errors, the control's column, and the gates
// against it; without one the divergence section says it needs one.
func TestControlContent(t *testing.T) {
	for _, format := range []string{"text", "markdown", "html"} {
		var b bytes.Buffer
		if err := Encode(&b, format, controlFixture(), Options{ASCII: true}); err != nil {
			t.Fatal(err)
		}
		s := b.String()
		last := -1
		for _, h := range []string{"Control replay", "Cluster metrics", "ctl p95", "Against the control", "Errors", "Divergence", "order only", "failed 42883", "Collations", "customers_name", "Gates", "compare the candidate with the control", "latency.p99 &lt;= control * 1.25", "divergence.results == 0"} {
			if format == "text" {
				h = strings.ReplaceAll(h, "&lt;", "<")
			}
			if format == "markdown" {
				h = strings.NewReplacer("*", `\*`, "_", `\_`).Replace(h)
			}
			i := strings.Index(s, h)
			if i <= last {
				t.Errorf("%s: %q missing or out of order", format, h)
			}
			last = max(last, i)
		}
		if format == "html" && !strings.Contains(s, `class="control"`) {
			t.Errorf("html: no control line in the CPU chart")
		}
	}
	var b bytes.Buffer
	if err := Text(&b, fixture(), Options{ASCII: true}); err != nil {
		t.Fatal(err)
	}
	if s := b.String(); !strings.Contains(s, "Divergence needs a control") || strings.Index(s, "Divergence") < strings.Index(s, "\nErrors\n") || strings.Contains(s, "ctl p95") {
		t.Errorf("without a control:\n%s", s)
	}
	// The verdict: divergence fails the default gates.
	if c := controlFixture(); c.Verdict.Result != compare.NOGO || !c.DefaultGates {
		t.Errorf("verdict %+v", c.Verdict)
	}
}
