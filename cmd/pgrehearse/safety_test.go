package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgrehearse/pgrehearse/internal/corpus"
	"github.com/pgrehearse/pgrehearse/internal/pgtest"
	"github.com/pgrehearse/pgrehearse/replay"
)

// corpusHead returns the first n lines of a corpus log, decompressed.
func corpusHead(t *testing.T, name string, n int) []byte {
	t.Helper()
	data := corpus.Load(t, name)
	end := 0
	for i := 0; i < n && end < len(data); i++ {
		k := bytes.IndexByte(data[end:], '\n')
		if k < 0 {
			return data
		}
		end += k + 1
	}
	return data[:end]
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestOutputNeverOverwritesInput: every command that writes refuses an
// output that is one of its inputs, also through a hard or a symbolic
// link, with exit 2 and both names, and the input stays as it was.
func TestOutputNeverOverwritesInput(t *testing.T) {
	dir := t.TempDir()
	log := smallCaptureLog(t, dir)
	w := filepath.Join(dir, "w.pgrw")
	if code, _, stderr := run(t, nil, "parse", "-q", "-o", w, log); code != exitOK {
		t.Fatalf("parse: exit %d %s", code, stderr)
	}
	hard, sym := filepath.Join(dir, "hard.log"), filepath.Join(dir, "sym.log")
	if err := os.Link(log, hard); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(log, sym); err != nil {
		t.Fatal(err)
	}
	// The checks come before any file is read, so stand-ins do for the
	// results and the comparison.
	res, cmp := filepath.Join(dir, "results.jsonl"), filepath.Join(dir, "comparison.json")
	os.WriteFile(res, []byte("results stand-in\n"), 0o600)
	os.WriteFile(cmp, []byte("comparison stand-in\n"), 0o600)
	rundir := filepath.Join(dir, "rehearsal")
	os.Mkdir(rundir, 0o700)
	inDir := filepath.Join(rundir, "workload.pgrw")
	os.WriteFile(inDir, readFile(t, log), 0o600)
	dsn := pgtest.DSN(t)
	tests := []struct {
		name  string
		args  []string
		input string
		want  string
	}{
		{"parse -o LOG", []string{"parse", "-o", log, log}, log, "-o " + log + " is the log " + log + " (the same file)"},
		{"parse through a hard link", []string{"parse", "-o", hard, log}, log, "through a link"},
		{"parse through a symbolic link", []string{"parse", "-o", sym, log}, log, "through a link"},
		{"replay -o WORKLOAD", []string{"replay", "--target", dsn, "-o", w, w}, w, "is the workload " + w},
		{"replay --samples WORKLOAD", []string{"replay", "--target", dsn, "--candidate-metrics", "pg:" + dsn, "--samples", w, "-o", filepath.Join(dir, "r2.jsonl"), w}, w, "--samples " + w + " is the workload"},
		{"compare -o RESULTS", []string{"compare", "--workload", w, "--results", res, "-o", res}, res, "-o " + res + " is the --results " + res},
		{"compare --report WORKLOAD", []string{"compare", "--workload", w, "--results", res, "--report", w}, w, "--report " + w + " is the --workload"},
		{"compare -o and --report alike", []string{"compare", "--workload", w, "--results", res, "-o", filepath.Join(dir, "c.json"), "--report", filepath.Join(dir, "c.json")}, res, "are the same file"},
		{"report -o COMPARISON", []string{"report", "-o", cmp, cmp}, cmp, "-o " + cmp + " is the comparison"},
		{"run with the log in --dir", []string{"run", "--target", dsn, "--dir", rundir, inDir}, inDir, "the workload " + inDir + " is the log"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := readFile(t, tc.input)
			code, _, stderr := run(t, nil, tc.args...)
			if code != exitUsage || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want exit 2 saying %q", code, stderr, tc.want)
			}
			if !bytes.Equal(readFile(t, tc.input), before) {
				t.Errorf("%s was changed", tc.input)
			}
		})
	}
}

// TestFailedParseLeavesOutput: a parse that fails before it has a
// workload to show (not a log, a window outside the log, a full disk)
// leaves the existing workload file as it was.
func TestFailedParseLeavesOutput(t *testing.T) {
	dir := t.TempDir()
	log := smallCaptureLog(t, dir)
	w := filepath.Join(dir, "w.pgrw")
	if code, _, stderr := run(t, nil, "parse", "-q", "-o", w, log); code != exitOK {
		t.Fatalf("parse: exit %d %s", code, stderr)
	}
	good := readFile(t, w)
	notALog := filepath.Join(dir, "notes.txt")
	os.WriteFile(notALog, []byte("dear diary,\ntoday I migrated a database\n"), 0o600)
	for _, args := range [][]string{
		{"parse", "-o", w, notALog},
		{"parse", "-o", w, "--begin", "2030-01-01T00:00:00Z", log},
	} {
		if code, _, stderr := run(t, nil, args...); code != exitUsage {
			t.Errorf("%v: exit %d %s", args, code, stderr)
		}
		if !bytes.Equal(readFile(t, w), good) {
			t.Fatalf("%v replaced the workload", args)
		}
	}
	// A full disk stops the parse at once and says what to do.
	code, _, stderr := run(t, nil, "parse", "-o", "/dev/full", corpus.Path("A-stderr.log.gz"))
	if code != exitError || !strings.Contains(stderr, "/dev/full") || !strings.Contains(stderr, "no space left") || !strings.Contains(stderr, "Free space") {
		t.Errorf("-o /dev/full: exit %d %s", code, stderr)
	}
	if tmp, _ := filepath.Glob(filepath.Join(dir, ".*.tmp")); len(tmp) != 0 {
		t.Errorf("temporary files left: %v", tmp)
	}
}

// runAsMain runs pgrehearse (this test binary) in a process of its own
// under umask mask.
func runAsMain(t *testing.T, mask string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command("sh", append([]string{"-c", "umask " + mask + " && exec \"$0\" \"$@\"", os.Args[0]}, args...)...)
	cmd.Env = append(os.Environ(), "PGREHEARSE_TEST_AS_MAIN=1")
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), string(out)
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0, string(out)
}

// TestOutputsArePrivate: workload, results, samples, comparison and
// reports are created 0600 whatever the umask (022 would give 0644), a
// workload replacing a 0644 one included.
func TestOutputsArePrivate(t *testing.T) {
	dsn := pgtest.DSN(t)
	for _, mask := range []string{"022", "077"} {
		t.Run("umask "+mask, func(t *testing.T) {
			dir := t.TempDir()
			log := smallCaptureLog(t, dir)
			out := filepath.Join(dir, "rehearsal")
			code, msg := runAsMain(t, mask, "run", "--target", dsn, "--candidate-metrics", "pg:"+dsn, "--dir", out,
				"--log-line-prefix", "%m|%u|%d|%c|", "--warmup", "0", "--gate", "errors.new == 0", "--report", filepath.Join(out, "report.md"), log)
			if code != exitNoGo {
				t.Fatalf("run: exit %d\n%s", code, msg)
			}
			entries, _ := os.ReadDir(out)
			if len(entries) != 5 {
				t.Errorf("%d files in %s, want workload, results, samples, comparison and report", len(entries), out)
			}
			for _, e := range entries {
				st, _ := e.Info()
				if st.Mode().Perm() != 0o600 {
					t.Errorf("%s: mode %v, want 0600", e.Name(), st.Mode().Perm())
				}
			}
			w := filepath.Join(dir, "w.pgrw")
			os.WriteFile(w, nil, 0o644)
			os.Chmod(w, 0o644)
			if code, msg := runAsMain(t, mask, "parse", "-q", "-o", w, log); code != exitOK {
				t.Fatalf("parse: exit %d %s", code, msg)
			}
			samples := filepath.Join(dir, "s.jsonl")
			if code, msg := runAsMain(t, mask, "sample", "--target", dsn, "--duration", "300ms", "--interval", "100ms", "-o", samples); code != exitOK {
				t.Fatalf("sample: exit %d %s", code, msg)
			}
			for _, f := range []string{w, samples} {
				if st, err := os.Stat(f); err != nil || st.Mode().Perm() != 0o600 {
					t.Errorf("%s: %v %v, want 0600", f, st.Mode().Perm(), err)
				}
			}
		})
	}
}

// deadTarget returns a DSN of a port nothing listens on.
func deadTarget(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return "host=127.0.0.1 port=" + strconv.Itoa(port) + " user=postgres dbname=postgres connect_timeout=5"
}

// TestSmallSafetyChecks: missing inputs are usage errors, --start-at
// checks the output before waiting, run checks the target before parsing,
// sample leaves an existing file when the target is unreachable.
func TestSmallSafetyChecks(t *testing.T) {
	dir := t.TempDir()
	log := smallCaptureLog(t, dir)
	w := filepath.Join(dir, "w.pgrw")
	if code, _, stderr := run(t, nil, "parse", "-q", "-o", w, log); code != exitOK {
		t.Fatalf("parse: exit %d %s", code, stderr)
	}
	nope := filepath.Join(dir, "nope")
	dsn := pgtest.DSN(t)
	for _, args := range [][]string{
		{"parse", "-o", filepath.Join(dir, "x"), nope},
		{"inspect", nope},
		{"replay", "--target", dsn, "-o", filepath.Join(dir, "r.jsonl"), nope},
		{"compare", "--workload", nope, "--results", log},
		{"compare", "--workload", w, "--results", nope},
		{"report", nope},
	} {
		if code, _, stderr := run(t, nil, args...); code != exitUsage || !strings.Contains(stderr, nope+" does not exist") {
			t.Errorf("%s of a missing file: exit %d %s", args[0], code, stderr)
		}
	}

	// --start-at in five seconds, into a directory that does not exist:
	// refused now (exit 2), not after the wait (exit 1).
	start := time.Now().Add(5 * time.Second).UTC().Format(time.RFC3339)
	code, _, stderr := run(t, nil, "replay", "-q", "--target", dsn, "--start-at", start, "-o", filepath.Join(nope, "r.jsonl"), w)
	if code != exitUsage || !strings.Contains(stderr, nope) || strings.Contains(stderr, "waiting until") {
		t.Errorf("--start-at with a missing output directory: exit %d %s", code, stderr)
	}

	// run finds an unreachable target before it parses.
	out := filepath.Join(dir, "rehearsal")
	code, _, stderr = run(t, nil, "run", "--target", deadTarget(t), "--dir", out, log)
	if code != exitError || !strings.Contains(stderr, "connect to the target") || strings.Contains(stderr, "== parse") {
		t.Errorf("run against a dead target: exit %d %s", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(out, "workload.pgrw")); err == nil {
		t.Errorf("run parsed the log before finding the target unreachable")
	}

	// sample against an unreachable target leaves the file it would write.
	samples := filepath.Join(dir, "s.jsonl")
	os.WriteFile(samples, []byte("earlier samples\n"), 0o600)
	if code, _, stderr := run(t, nil, "sample", "--target", deadTarget(t), "-o", samples); code != exitError || !strings.Contains(stderr, "left as it was") {
		t.Errorf("sample of a dead target: exit %d %s", code, stderr)
	}
	if string(readFile(t, samples)) != "earlier samples\n" {
		t.Errorf("sample replaced %s", samples)
	}
}

// TestGatesFileCRLF: a gates file saved with Windows line ends reads.
func TestGatesFileCRLF(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gates.txt")
	os.WriteFile(path, []byte("# launch gates\r\nerrors.new == 0\r\nreplay.lateness.p99 < 100ms\r\n"), 0o600)
	cf := compareFlags{gatesFile: path}
	gates, err := cf.parseGates()
	if err != nil || len(gates) != 2 {
		t.Fatalf("gates %v, %v", gates, err)
	}
}

// TestReportRefusesDamagedComparison: a comparison document that is
// incomplete is an error (exit 2), not a JUnit report of 0 tests.
func TestReportRefusesDamagedComparison(t *testing.T) {
	dir := t.TempDir()
	for name, doc := range map[string]string{
		"header only":      `{"format":"pgrehearse-comparison","version":1}`,
		"GO without gates": `{"format":"pgrehearse-comparison","version":1,"generated":"2026-11-22T12:00:00Z","verdict":{"result":"GO"},"gates":[]}`,
	} {
		path := filepath.Join(dir, "c.json")
		os.WriteFile(path, []byte(doc), 0o600)
		out := filepath.Join(dir, "gates.xml")
		code, _, stderr := run(t, nil, "report", "-o", out, path)
		if code != exitUsage || !strings.Contains(stderr, "damaged") {
			t.Errorf("%s: exit %d %s", name, code, stderr)
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("%s: a report was written", name)
		}
	}
}

// TestReplayDiskFull: a replay whose results can not be written at all
// (-o on a full disk) stops at the first write, its header, before a
// statement reaches the target: exit 1, saying that the disk is full,
// which file, and what to do.
func TestReplayDiskFull(t *testing.T) {
	dir := t.TempDir()
	cl := pgtest.StartCluster(t)
	ctx := context.Background()
	c, err := pgconn.Connect(ctx, cl.DSN("postgres", "postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, "CREATE TABLE disk_full_probe (n int)").ReadAll(); err != nil {
		t.Fatal(err)
	}
	w := sessionsLog(t, dir, 4, func(s int, at func(int, string)) {
		for ms := 100; ms < 3000; ms += 100 {
			at(ms+s, fmt.Sprintf("LOG:  statement: INSERT INTO disk_full_probe VALUES (%d)", ms))
		}
		at(3000+s, "LOG:  disconnection: session time: 0:00:03.000")
	})
	start := time.Now()
	code, _, stderr := run(t, nil, "replay", "-q", "--target", cl.DSN("postgres", "postgres"), "-o", "/dev/full", w)
	took := time.Since(start)
	want := "the disk is full: the results could not be written to /dev/full (write /dev/full: no space left on device); no statement was replayed. Free space on the disk of /dev/full, or write the results elsewhere with -o, then replay again"
	if code != exitError || !strings.Contains(stderr, want) {
		t.Errorf("exit %d, want 1 saying %q:\n%s", code, want, stderr)
	}
	if took > 2*time.Second {
		t.Errorf("the replay went on for %v", took)
	}
	res, err := c.Exec(ctx, "SELECT count(*) FROM disk_full_probe").ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if n := string(res[0].Rows[0][0]); n != "0" {
		t.Errorf("%s statements reached the target although their results could not be written", n)
	}
}

// fullAfter is a disk that fills after n bytes: every write from then on
// fails with ENOSPC; failedAt is when the first did.
type fullAfter struct {
	mu       sync.Mutex
	n        int
	failedAt time.Time
}

func (f *fullAfter) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(p) <= f.n {
		f.n -= len(p)
		return len(p), nil
	}
	if f.failedAt.IsZero() {
		f.failedAt = time.Now()
	}
	k := f.n
	f.n = 0
	return k, &os.PathError{Op: "write", Path: "results.jsonl", Err: syscall.ENOSPC}
}

// TestReplayStopsAtFirstFailedWrite: a disk that fills during the replay
// stops it as soon as a write of the results fails, not a second later;
// the summary is printed, and the message says the disk is full, what
// the file holds and what to do.
func TestReplayStopsAtFirstFailedWrite(t *testing.T) {
	dir := t.TempDir()
	w := sessionsLog(t, dir, 4, workUntil(8000))
	ctx := context.Background()
	r, closeIn, err := openWorkload(ctx, &environment{}, w, &logFlags{})
	if err != nil {
		t.Fatal(err)
	}
	defer closeIn()
	disk := &fullAfter{n: 2048}
	rw, err := replay.NewResultsWriter(disk, replay.ResultsHeader{Target: "test", Speed: 1})
	if err != nil {
		t.Fatal(err)
	}
	var warned []string
	rctx, stop := watchResults(ctx, rw, "results.jsonl", "-o", func(msg string) { warned = append(warned, msg) })
	cfg, err := pgconn.ParseConfig(pgtest.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	ex := &replay.PGExecutor{Config: cfg}
	st, _ := replay.Run(rctx, r, ex, replay.Options{Speed: 1}, rw.Add)
	ended := time.Now()
	writeErr := stop()
	ex.Close(ctx)
	sum, _ := rw.Close(st, true)
	disk.mu.Lock()
	failedAt := disk.failedAt
	disk.mu.Unlock()
	if failedAt.IsZero() || writeErr == nil {
		t.Fatalf("no write failed (err %v): the test tests nothing", writeErr)
	}
	if lag := ended.Sub(failedAt); lag > 500*time.Millisecond {
		t.Errorf("the replay went on for %v after the first failed write", lag)
	}
	var stderr bytes.Buffer
	rf := &replayFlags{out: "results.jsonl", speed: 1}
	msg := rf.finish(&environment{stderr: &stderr}, sum, writeErr, nil).Error()
	if !strings.Contains(stderr.String(), fmt.Sprintf("replayed %d of %d statements", sum.Replayed, sum.Statements)) || sum.Statements == 0 {
		t.Errorf("no summary:\n%s", stderr.String())
	}
	for _, want := range []string{
		"replay: the disk is full: the results could not be written to results.jsonl (write results.jsonl: no space left on device); the replay was stopped then",
		"Free space on the disk of results.jsonl, or write the results elsewhere with -o, then replay again",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
	if len(warned) != 1 || !strings.Contains(warned[0], "the disk is full") || !strings.HasSuffix(warned[0], "; stopping the replay") {
		t.Errorf("warnings: %q", warned)
	}
}
