package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pgrehearse/pgrehearse/compare"
)

// TestDemo runs the README's first command, shortened: real clusters,
// the shop load, parse, replay, compare and the HTML report.
func TestDemo(t *testing.T) {
	dir := t.TempDir()
	work := filepath.Join(dir, "work")
	report := filepath.Join(dir, "demo.html")
	code, stdout, stderr := run(t, nil, "demo", "--duration", "8s", "--clients", "4", "--keep", "--dir", work, "--report", report)
	if code != exitOK {
		t.Fatalf("demo: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stderr, "Open the report: ") || !strings.Contains(stdout, "Replay fidelity") {
		t.Errorf("demo output:\n%s\n%s", stdout, stderr)
	}
	if b, err := os.ReadFile(report); err != nil || !strings.Contains(string(b), "<svg") {
		t.Fatalf("HTML report: %v", err)
	}
	var c compare.Comparison
	raw, err := os.ReadFile(filepath.Join(work, "comparison.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	// Every statement of the capture was replayed, none failed anew, and
	// the duplicate coupons failed on both sides as they should.
	f := c.Fidelity
	if f.Statements < 1000 || f.Replayed != f.Statements || f.Sessions != f.OriginalSessions || f.Sessions <= 4 {
		t.Errorf("fidelity %+v", f)
	}
	if c.Errors.NewN != 0 {
		t.Errorf("new errors on the candidate: %+v", c.Errors.New)
	}
	// The duplicate coupons fail on both sides; a statement still
	// running when the load stopped was cancelled (57014) in production
	// and is cancelled after as long on replay.
	coupons := false
	for _, e := range c.Errors.Both {
		coupons = coupons || e.SQLState == "23505"
		if e.SQLState != "23505" && e.SQLState != "57014" {
			t.Errorf("unexpected error both had: %+v", e)
		}
	}
	if !coupons {
		t.Errorf("errors both had: %+v", c.Errors.Both)
	}
	// Both clusters were sampled, primary and replica: every standard
	// metric has both sides.
	got := map[string]bool{}
	for _, m := range c.Metrics {
		got[m.Name] = m.Baseline != nil && m.Candidate != nil
	}
	for _, name := range []string{"cpu", "read_iops", "write_iops", "replica_lag", "commits"} {
		if !got[name] {
			t.Errorf("metric %s lacks a side: %+v", name, got)
		}
	}
	if c.Latency.Baseline == nil || c.Latency.Candidate == nil || len(c.Latency.Top) == 0 {
		t.Errorf("latency %+v", c.Latency)
	}
	// pg_stat_statements on both clusters: the shop's queries with the
	// servers' own figures on both sides.
	sq := c.ServerQueries
	both := 0
	if sq != nil {
		for _, r := range sq.Rows {
			if r.Baseline != nil && r.Candidate != nil && r.Baseline.Calls > 0 && r.Candidate.Calls > 0 {
				both++
			}
		}
	}
	if both == 0 || !strings.Contains(stdout, "Server-side work per query") {
		t.Errorf("server queries %+v", sq)
	}
	// The control beside the candidate: its metrics, its latency, and the
	// candidate's ICU database answering the catalogue's ORDER BY name
	// otherwise than the control's C one, while a lookup by key agrees.
	if c.Control == nil || c.Control.Fidelity.Statements != f.Statements || c.Control.Latency.Control == nil {
		t.Fatalf("control %+v", c.Control)
	}
	if m := c.Metrics[0]; m.Name != "cpu" || m.Control == nil {
		t.Errorf("cpu without the control's side: %+v", m)
	}
	d := c.Divergence
	if d == nil || !d.Checksums || d.Compared < f.Replayed-10 {
		t.Fatalf("divergence %+v", d)
	}
	byQuery := map[string]compare.DivergenceQuery{}
	for _, q := range d.ByFingerprint {
		byQuery[q.Query] = q
	}
	names := byQuery["SELECT id, name, price FROM products WHERE category = ? ORDER BY name LIMIT ?"]
	if names.Count == 0 || names.Results != names.Count || names.Count*2 < names.Compared {
		t.Errorf("the catalogue page by name: %+v (all: %+v)", names, d.ByFingerprint)
	}
	if q, ok := byQuery["SELECT name, category, price FROM products WHERE id = ?"]; ok {
		t.Errorf("a lookup by key diverged: %+v", q)
	}
	if cc := c.Collation; cc == nil || len(cc.Differences) == 0 || !strings.Contains(cc.Differences[0], "database shop: default collation ICU en-US") {
		t.Errorf("collation pre-flight %+v", c.Collation)
	}
	if !strings.Contains(stdout, "Divergence") || !strings.Contains(stdout, "Collations") || !strings.Contains(c.DefaultGatesBasis, "control") {
		t.Errorf("report without the control's parts:\n%s", stdout)
	}
	if c.Verdict.Result == "" || len(c.Gates) == 0 || !c.DefaultGates {
		t.Errorf("verdict %+v, %d gates", c.Verdict, len(c.Gates))
	}
}

// TestDemoWithoutPostgres: the demo names what to install.
func TestDemoWithoutPostgres(t *testing.T) {
	t.Setenv("PGREHEARSE_PG_BIN", "")
	t.Setenv("PATH", t.TempDir())
	if _, err := os.Stat("/usr/lib/postgresql"); err == nil {
		// Debian's packaged binaries are found without PATH; hide them
		// behind an empty PGREHEARSE_PG_BIN directory instead.
		t.Setenv("PGREHEARSE_PG_BIN", t.TempDir())
	}
	code, _, stderr := run(t, nil, "demo")
	if code != exitError || !strings.Contains(stderr, "PostgreSQL server binaries not found") || !strings.Contains(stderr, "postgresql") {
		t.Errorf("exit %d: %s", code, stderr)
	}
}
