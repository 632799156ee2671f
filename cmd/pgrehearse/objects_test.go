package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/pgrehearse/pgrehearse/compare"
	"github.com/pgrehearse/pgrehearse/internal/objstore"
	"github.com/pgrehearse/pgrehearse/internal/objstore/s3test"
	"github.com/pgrehearse/pgrehearse/internal/pgtest"
)

func readObject(t *testing.T, url string) []byte {
	t.Helper()
	r, err := objstore.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestObjectStorage runs the stages with every workload, results,
// samples, comparison and report on S3 (the real SDK against a local
// server speaking its protocol, found through AWS_ENDPOINT_URL_S3).
func TestObjectStorage(t *testing.T) {
	s := s3test.Start(t)
	dir := t.TempDir()
	log := smallCaptureLog(t, dir)
	w, res := s.URLOf("rehearsal-1/workload.pgrw"), s.URLOf("rehearsal-1/results/shard-0.jsonl")
	if code, _, stderr := run(t, nil, "parse", "-q", "--log-line-prefix", "%m|%u|%d|%c|", "-o", w, log); code != exitOK {
		t.Fatalf("parse: exit %d %s", code, stderr)
	}
	if code, stdout, stderr := run(t, nil, "inspect", w); code != exitOK || !strings.Contains(stdout, `"statements": 61`) {
		t.Fatalf("inspect: exit %d %s %s", code, stderr, stdout)
	}
	if code, _, stderr := run(t, nil, "replay", "-q", "--target", pgtest.DSN(t), "--candidate-metrics", "pg:"+pgtest.DSN(t), "-o", res, w); code != exitOK {
		t.Fatalf("replay: exit %d %s", code, stderr)
	}
	if !bytes.Contains(readObject(t, res), []byte(`{"summary"`)) {
		t.Fatal("the results object has no summary")
	}
	samples := s.URLOf("rehearsal-1/results/shard-0.samples.jsonl")
	if _, err := objstore.Stat(context.Background(), samples); err != nil {
		t.Fatalf("the replay's samples: %v", err)
	}
	out, md := s.URLOf("rehearsal-1/comparison.json"), s.URLOf("rehearsal-1/report.md")
	code, _, stderr := run(t, nil, "compare", "--workload", w, "--results", res, "--gate", "replay.lateness.p99 < 10s", "-o", out, "--report", md)
	if code != exitOK || !strings.Contains(stderr, "candidate metrics from the replay's samples: "+samples) {
		t.Fatalf("compare: exit %d %s", code, stderr)
	}
	var c compare.Comparison
	if err := json.Unmarshal(readObject(t, out), &c); err != nil {
		t.Fatal(err)
	}
	if c.Fidelity.Workload != w || c.Fidelity.Replayed != 61 || c.Verdict.Result != compare.GO {
		t.Errorf("comparison: workload %q, replayed %d, verdict %s", c.Fidelity.Workload, c.Fidelity.Replayed, c.Verdict.Result)
	}
	if !bytes.Contains(readObject(t, md), []byte("# Migration rehearsal: GO")) {
		t.Error("the Markdown report is not on S3")
	}
	if code, stdout, stderr := run(t, nil, "report", "--format", "markdown", out); code != exitOK || !strings.Contains(stdout, "GO") {
		t.Errorf("report of an object: exit %d %s", code, stderr)
	}
	if code, stdout, stderr := run(t, nil, "metrics", "--json", "--window-of", res, "pg:"+samples); code != exitOK || !strings.Contains(stdout, "connections") {
		t.Errorf("metrics --window-of an object: exit %d %s %.300s", code, stderr, stdout)
	}
}

// TestObjectStorageMistakes: a missing object is a usage error, an
// output that is an input is refused, and nothing is left behind.
func TestObjectStorageMistakes(t *testing.T) {
	s := s3test.Start(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"replay", "--target", pgtest.DSN(t), "-o", s.URLOf("r.jsonl"), s.URLOf("none.pgrw")}, "workload s3://rehearsal/none.pgrw does not exist"},
		{[]string{"inspect", s.URLOf("none.pgrw")}, "does not exist"},
		{[]string{"compare", "--workload", s.URLOf("w.pgrw"), "--results", s.URLOf("r.jsonl"), "-o", s.URLOf("r.jsonl")}, "does not exist"},
		{[]string{"replay", "--target", pgtest.DSN(t), "-o", s.URLOf("dir/"), "-"}, "want s3://bucket/key"},
		{[]string{"replay", "--start-at", "2099-01-01T00:00:00Z", "--target", pgtest.DSN(t), "-o", "s3://no-such-bucket/r.jsonl", "-"}, "s3://no-such-bucket/r.jsonl can not be written"},
	} {
		if code, _, stderr := run(t, nil, c.args...); code != exitUsage || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d, want %d with %q\n%s", c.args, code, exitUsage, c.want, stderr)
		}
	}
	// An object that exists and is named as an output too.
	put := func(key, body string) {
		w, _ := objstore.Create(context.Background(), s.URLOf(key))
		w.Write([]byte(body))
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	put("w.pgrw", "x")
	put("r.jsonl", "x")
	code, _, stderr := run(t, nil, "compare", "--workload", s.URLOf("w.pgrw"), "--results", s.URLOf("r.jsonl"), "-o", s.URLOf("r.jsonl"))
	if code != exitUsage || !strings.Contains(stderr, "is the --results") {
		t.Errorf("output = input: exit %d %s", code, stderr)
	}
}

// TestSalvageCommand: a replay killed outright leaves an unfinished
// upload; salvage makes its parts the object, and refuses a finished one.
func TestSalvageCommand(t *testing.T) {
	s := s3test.Start(t)
	url := s.URLOf("results/killed.jsonl")
	w, err := objstore.Create(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	// The writer is never closed, as in a killed process; its goroutine
	// ends with the test.
	t.Cleanup(func() { w.Abort() })
	line := []byte(`{"s":1,"i":0,"sched_us":1,"start_us":1,"late_us":0,"lat_us":100,"rows":1,"fp":"0"}` + "\n")
	w.Write([]byte(`{"header":{"format":"pgrehearse-results","version":2}}` + "\n"))
	for n := 0; n < objstore.MinPartSize/len(line)+10; n++ {
		w.Write(line)
	}
	for deadline := time.Now().Add(30 * time.Second); len(s.PartSizes()) == 0 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if code, _, stderr := run(t, nil, "salvage", url); code != exitOK || !strings.Contains(stderr, "1 parts, 5.0 MiB") {
		t.Fatalf("salvage: exit %d %s", code, stderr)
	}
	if b := readObject(t, url); len(b) != objstore.MinPartSize || !bytes.HasPrefix(b, []byte(`{"header"`)) {
		t.Fatalf("salvaged %d bytes", len(b))
	}
	if code, _, stderr := run(t, nil, "salvage", url); code != exitUsage || !strings.Contains(stderr, "exists already") {
		t.Errorf("salvage of a finished object: exit %d %s", code, stderr)
	}
}
