package replay

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

func TestResultsWriter(t *testing.T) {
	var buf bytes.Buffer
	rw, err := NewResultsWriter(&buf, ResultsHeader{Target: "host=h user=u database=d", Speed: 1})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(1_800_000_000, 0)
	for i := 0; i < 100; i++ {
		r := &Result{Session: 1, Index: i, Scheduled: t0, Started: t0.Add(time.Duration(i) * time.Millisecond), Latency: time.Duration(i+1) * time.Millisecond}
		switch i {
		case 10:
			r.Err, r.SQLState, r.Production = errors.New("x"), "22012", "22012" // production had it
		case 20:
			r.Err, r.SQLState = errors.New("x"), "42P01" // new
		case 30:
			r.Skipped = true
		}
		rw.Add(r)
	}
	sum, err := rw.Close(&Stats{Sessions: 1, Started: t0, Finished: t0.Add(time.Second)}, false)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Statements != 100 || sum.Replayed != 99 || sum.Skipped != 1 || sum.Errors != 2 || sum.NewErrors != 1 {
		t.Fatalf("summary %+v", sum)
	}
	// Lateness 0..99 ms without the skipped one: the median is about 50 ms.
	if sum.LatenessP50MS < 48 || sum.LatenessP50MS > 52 || sum.LatenessMaxMS < 98.9 || sum.LatenessMaxMS > 99.2 {
		t.Errorf("lateness p50 %.2f max %.2f", sum.LatenessP50MS, sum.LatenessMaxMS)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 102 {
		t.Fatalf("%d lines, want header, 100 results and a trailer", len(lines))
	}
	var tr struct{ Summary Summary }
	if err := json.Unmarshal([]byte(lines[101]), &tr); err != nil {
		t.Fatal(err)
	}
	raw, err := base64.StdEncoding.DecodeString(tr.Summary.Histograms["latency"])
	if err != nil {
		t.Fatal(err)
	}
	h, err := hdrhistogram.Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	if h.TotalCount() != 99 {
		t.Errorf("latency histogram holds %d values, want 99", h.TotalCount())
	}
	if !strings.Contains(lines[21], `"sqlstate":"42P01","new":true`) || strings.Contains(lines[11], `"new"`) {
		t.Errorf("error lines: %s / %s", lines[11], lines[21])
	}
}
