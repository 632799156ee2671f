package replay

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/pgrehearse/pgrehearse/parse"
	"github.com/pgrehearse/pgrehearse/parse/fingerprint"
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
		case 40:
			r.Production = "23505" // production failed, this did not: missing
		case 50:
			r.Kind, r.Production, r.Err, r.SQLState, r.StandIn = parse.Error, "22P02", errors.New("x"), "22P02", true
		}
		rw.Add(r)
	}
	sum, err := rw.Close(&Stats{Sessions: 1, Started: t0, Finished: t0.Add(time.Second)}, false)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Statements != 99 || sum.Replayed != 98 || sum.Skipped != 1 || sum.Errors != 3 || sum.ErrorEvents != 1 {
		t.Fatalf("summary %+v", sum)
	}
	if sum.ProductionErrors != 3 || sum.Reproduced != 2 || sum.StandIns != 1 || sum.NewErrors != 1 || sum.Missing["succeeded"] != 1 || len(sum.Missing) != 1 {
		t.Fatalf("error figures: production %d, reproduced %d (stand-ins %d), new %d, missing %v", sum.ProductionErrors, sum.Reproduced, sum.StandIns, sum.NewErrors, sum.Missing)
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
	if h.TotalCount() != 98 {
		t.Errorf("latency histogram holds %d values, want 98", h.TotalCount())
	}
	// Lines hold facts; whether an error is new is compare's to say.
	if !strings.HasSuffix(lines[21], `"sqlstate":"42P01"}`) || strings.Contains(buf.String(), `"new"`) {
		t.Errorf("error lines: %s / %s", lines[11], lines[21])
	}
	if !strings.Contains(lines[51], `"k":"e"`) || !strings.Contains(lines[51], `"stand_in":true`) {
		t.Errorf("error event line: %s", lines[51])
	}
}

// TestDiagnosis: a replay with more than 1% of statements over 100 ms
// late is behind schedule, and the cause most of them had is named.
func TestDiagnosis(t *testing.T) {
	tests := []struct {
		name       string
		late       int    // statements of 100 started 150 ms late
		cause      string // their cause
		behind     bool
		bottleneck string
	}{
		{"on time", 0, "", false, ""},
		{"one percent is tolerated", 1, CauseTarget, false, ""},
		{"target slow", 5, CauseTarget, true, CauseTarget},
		{"replayer slow", 5, CauseReplayer, true, "replayer"},
		{"connecting", 5, CauseConnect, true, "replayer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rw, err := NewResultsWriter(&bytes.Buffer{}, ResultsHeader{})
			if err != nil {
				t.Fatal(err)
			}
			t0 := time.Unix(1_800_000_000, 0)
			for i := 0; i < 100; i++ {
				r := &Result{Session: 1, Index: i, Scheduled: t0, Started: t0, Latency: time.Millisecond}
				if i < tt.late {
					r.Started, r.LateCause = t0.Add(150*time.Millisecond), tt.cause
				}
				rw.Add(r)
			}
			sum, err := rw.Close(&Stats{Started: t0, Finished: t0.Add(time.Second), CPU: 300 * time.Millisecond}, false)
			if err != nil {
				t.Fatal(err)
			}
			if sum.BehindSchedule != tt.behind || sum.Bottleneck != tt.bottleneck {
				t.Errorf("behind %v bottleneck %q (%s); want %v %q", sum.BehindSchedule, sum.Bottleneck, sum.Diagnosis, tt.behind, tt.bottleneck)
			}
			if tt.late > 0 && sum.LateByCause[tt.cause] != int64(tt.late) {
				t.Errorf("late_by_cause %v", sum.LateByCause)
			}
			if tt.behind && sum.Diagnosis == "" {
				t.Errorf("behind schedule without a diagnosis")
			}
		})
	}
}

// TestResultsRoundTrip: what the writer writes, the reader reads back,
// line by line, with the header and the summary; a cut last line reads as
// truncated, not as damage.
func TestResultsRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var buf bytes.Buffer
	rw, err := NewResultsWriter(&buf, ResultsHeader{Target: "host=h", Speed: 2, WorkloadID: "abc", Shard: "1/3", MaxConnections: 100, Unnamed: true})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(1_800_000_000, 0)
	var want []*Result
	for i := range 500 {
		r := &Result{Session: uint64(rng.IntN(9) + 1), Index: i, Scheduled: t0.Add(time.Duration(rng.IntN(1e6)) * time.Microsecond),
			Fingerprint: fingerprint.ID(rng.Uint64()), Pipelined: rng.IntN(4) == 0, BlockedBy: []string{"", "session 3", `backend 7 outside the replay (application "psql", user x, idle)`}[rng.IntN(3)]}
		r.Started = r.Scheduled.Add(time.Duration(rng.IntN(2000)) * time.Microsecond)
		r.Latency = time.Duration(rng.IntN(1e5)) * time.Microsecond
		r.Rows = int64(rng.IntN(100))
		switch rng.IntN(7) {
		case 0:
			r.Kind, r.StandIn, r.Err, r.SQLState = parse.Error, rng.IntN(2) == 0, errors.New("x"), "22P02"
		case 1:
			r.Skipped, r.SkipReason = true, "copy_from_stdin"
		case 2:
			r.Err = errors.New("connection reset")
		case 3:
			r.Err, r.SQLState, r.Interrupted = errors.New("canceled"), "57014", true
		}
		if r.Lateness() > time.Millisecond {
			r.LateCause = causes[rng.IntN(len(causes))]
		}
		if rng.IntN(3) == 0 {
			r.setChecksum(rng.Uint64(), rng.Uint64(), rng.IntN(2) == 0)
		}
		if rng.IntN(5) == 0 {
			r.NonDeterministic = "now()"
		}
		rw.Add(r)
		want = append(want, r)
	}
	unreachable := t0.Add(500 * time.Millisecond)
	sum, err := rw.Close(&Stats{Sessions: 9, Started: t0, Finished: t0.Add(time.Second), RefusedConnections: 2, ConnectFailures: 7, PeakConnections: 98,
		WorkloadError: "workload file is truncated", UnreachableSince: unreachable}, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, cut := range []bool{false, true} {
		data := buf.Bytes()
		if cut {
			// A killed replay: the summary is gone and a line is half
			// written.
			i := bytes.LastIndex(data[:len(data)-1], []byte("\n"))
			data = data[:i-20]
		}
		rr, err := NewResultsReader(bytes.NewReader(data), "results.jsonl")
		if err != nil {
			t.Fatal(err)
		}
		if h := rr.Header(); h.WorkloadID != "abc" || h.Shard != "1/3" || h.Speed != 2 || h.Version != ResultsVersion || h.MaxConnections != 100 || !h.Unnamed {
			t.Fatalf("header %+v", h)
		}
		n := 0
		for {
			l, err := rr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			w := want[n]
			state := stateOf(w)
			if l.Session != w.Session || l.Index != w.Index || l.EventKind() != w.Kind && !(w.Kind == 0 && l.EventKind() == parse.Statement) ||
				l.StartUS != w.Started.UnixMicro() || l.LatUS != w.Latency.Microseconds() || l.Fingerprint() != w.Fingerprint ||
				l.Pipelined != w.Pipelined || l.StandIn != w.StandIn || l.BlockedBy != w.BlockedBy || l.SQLState != state ||
				l.Skipped != w.SkipReason || l.Late != w.LateCause || l.Rows != w.Rows || l.Interrupted != w.Interrupted || l.ND != w.NonDeterministic {
				t.Fatalf("line %d: read %+v, wrote %+v", n, l, w)
			}
			if set, seq, ok, ordered := l.Checksum(); ok != w.Checksummed || set != w.Checksum || ordered != w.Ordered || seq != w.OrderedChecksum {
				t.Fatalf("line %d: checksums read %x %x %v %v, wrote %+v", n, set, seq, ok, ordered, w.Outcome)
			}
			n++
		}
		if cut {
			if !rr.Truncated() || rr.Summary() != nil || n != len(want)-1 {
				t.Errorf("cut file: truncated %v, summary %v, %d lines", rr.Truncated(), rr.Summary() != nil, n)
			}
			continue
		}
		if rr.Truncated() || n != len(want) || rr.Summary() == nil || rr.Summary().Statements != sum.Statements {
			t.Errorf("whole file: truncated %v, %d lines, summary %+v", rr.Truncated(), n, rr.Summary())
		}
		got := rr.Summary()
		if got.RefusedConnections != 2 || got.ConnectFailures != 7 || got.PeakConnections != 98 || got.WorkloadError != "workload file is truncated" ||
			got.TargetUnreachableSince != unreachable.UTC().Format(time.RFC3339Nano) || got.InterruptedStatements == 0 ||
			got.InterruptedStatements != sum.InterruptedStatements || !strings.Contains(got.ConnectionLimit, "max_connections = 100") {
			t.Errorf("summary %+v", got)
		}
	}
	if IsResults([]byte("PGRWKLD")) || !IsResults(buf.Bytes()[:64]) {
		t.Error("IsResults")
	}
}

// TestLostConnection: the SQLSTATEs of a statement that failed for want
// of a connection, and not others (a refused login, the connection limit,
// a cancel, a query's own error).
func TestLostConnection(t *testing.T) {
	for state, want := range map[string]bool{
		"connection": true, "08006": true, "08001": true, "57P01": true, "57P02": true, "57P03": true,
		"": false, "53300": false, "28P01": false, "57014": false, "42P01": false, "08": false, "57P04": false,
	} {
		if got := LostConnection(state); got != want {
			t.Errorf("LostConnection(%q) = %v", state, got)
		}
	}
}
