package parse_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/pgrehearse/pgrehearse/internal/corpus"
	"github.com/pgrehearse/pgrehearse/parse"
)

type manifestSession struct {
	Kind     string    `json:"kind"`
	PID      int64     `json:"backend_pid"`
	User     string    `json:"user"`
	Database string    `json:"database"`
	App      string    `json:"application_name"`
	Connect  time.Time `json:"connect"`
}

// TestFilters checks --database, --user and --application (include and
// exclude) on corpus C against what the clients of each session sent.
func TestFilters(t *testing.T) {
	b, err := os.ReadFile(corpusPath("C-jsonlog.manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m struct{ Sessions []manifestSession }
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	truth := loadTruth(t, "C-jsonlog")
	count := func(keep func(manifestSession) bool) (sessions, statements int64) {
		for _, s := range m.Sessions {
			if (s.Kind == "session" || s.Kind == "session-without-statements") && keep(s) {
				sessions++
				statements += int64(len(truth[s.PID]))
			}
		}
		return
	}
	tests := []struct {
		name string
		opt  parse.Options
		keep func(manifestSession) bool
	}{
		{"database bench", parse.Options{Databases: []string{"bench"}}, func(s manifestSession) bool { return s.Database == "bench" }},
		{"not database bench", parse.Options{Databases: []string{"!bench"}}, func(s manifestSession) bool { return s.Database != "bench" }},
		{"users app_user and report_user", parse.Options{Users: []string{"app_user", "report_user"}}, func(s manifestSession) bool { return s.User == "app_user" || s.User == "report_user" }},
		{"application corpus-params", parse.Options{Applications: []string{"corpus-params"}}, func(s manifestSession) bool { return s.App == "corpus-params" }},
		{"app database without psql-session", parse.Options{Databases: []string{"app"}, Applications: []string{"!psql-session"}}, func(s manifestSession) bool { return s.Database == "app" && s.App != "psql-session" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sum, _ := parseCorpus(t, "C-jsonlog.json.gz", tc.opt)
			ws, wst := count(tc.keep)
			if ws == 0 {
				t.Fatal("the filter keeps no session of the manifest: test is wrong")
			}
			if sum.Sessions != ws || sum.Statements != wst {
				t.Errorf("sessions %d statements %d, want %d and %d", sum.Sessions, sum.Statements, ws, wst)
			}
			if sum.Skipped["filtered"] == 0 {
				t.Error("nothing counted as filtered")
			}
		})
	}
}

// TestTimeWindow keeps the statements of the pgbench -M prepared step.
func TestTimeWindow(t *testing.T) {
	full, _ := parseCorpus(t, "B-csvlog.csv.gz", parse.Options{})
	first, last := full.Window()
	mid := first.Add(last.Sub(first) / 2)
	a, _ := parseCorpus(t, "B-csvlog.csv.gz", parse.Options{End: mid})
	b, wb := parseCorpus(t, "B-csvlog.csv.gz", parse.Options{Begin: mid.Add(time.Microsecond)})
	if a.Statements == 0 || b.Statements == 0 || a.Statements+b.Statements != full.Statements {
		t.Fatalf("halves %d + %d != whole %d", a.Statements, b.Statements, full.Statements)
	}
	af, al := a.Window()
	bf, _ := b.Window()
	if al.After(mid) || bf.Before(mid) || af.Before(first) {
		t.Errorf("windows %s..%s and from %s around %s", af, al, bf, mid)
	}
	// The second half's clock starts at --begin, so replay does not wait
	// through the half that was cut away.
	r, err := parse.NewReader(bytes.NewReader(wb))
	if err != nil {
		t.Fatal(err)
	}
	if start := time.UnixMicro(r.Header().Start); !start.Equal(mid.Add(time.Microsecond)) {
		t.Errorf("header start %s, want --begin %s", start, mid.Add(time.Microsecond))
	}
}

// TestZstdAndStdin reads a zstd-compressed log from standard input.
func TestZstdAndStdin(t *testing.T) {
	var z bytes.Buffer
	zw, err := zstd.NewWriter(&z)
	if err != nil {
		t.Fatal(err)
	}
	zw.Write(corpus.Load(t, "A-stderr.log.gz"))
	zw.Close()
	var out bytes.Buffer
	sum, err := parse.Run(context.Background(), []string{"-"}, &out, parse.Options{Stdin: &z})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Statements != 163397 || sum.Files[0].Compression != "zstd" {
		t.Fatalf("statements %d compression %q", sum.Statements, sum.Files[0].Compression)
	}
}

// TestNonEnglish: a log written with lc_messages in German is named as
// such, not read as a log without statements.
func TestNonEnglish(t *testing.T) {
	log := "2026-11-22 12:00:00.000 CET [42] app@shop LOG:  Anweisung: SELECT 1\n" +
		"2026-11-22 12:00:00.001 CET [42] app@shop FEHLER:  Division durch Null\n"
	for _, format := range []parse.Format{parse.FormatAuto, parse.FormatStderr} {
		_, err := parse.Run(context.Background(), []string{"-"}, &bytes.Buffer{}, parse.Options{Format: format, Stdin: strings.NewReader(log)})
		if err == nil || !strings.Contains(err.Error(), "German") && !strings.Contains(err.Error(), "lc_messages") {
			t.Errorf("format %s: %v, want an lc_messages error", format, err)
		}
	}
}

func TestDatabasesSorted(t *testing.T) {
	sum, _ := parseCorpus(t, "A-stderr.log.gz", parse.Options{})
	if !sort.StringsAreSorted(sum.Databases) || !sort.StringsAreSorted(sum.Users) {
		t.Fatalf("unsorted: %v %v", sum.Databases, sum.Users)
	}
}
