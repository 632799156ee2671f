package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pgrehearse/pgrehearse/internal/pgcluster"
	"github.com/pgrehearse/pgrehearse/internal/pgtest"
	"github.com/pgrehearse/pgrehearse/replay/calibrate"
)

// TestCalibrateCommand calibrates a light workload against a real server:
// the table on stderr, the report on stdout, and the plan's arithmetic.
func TestCalibrateCommand(t *testing.T) {
	dir := t.TempDir()
	log := smallCaptureLog(t, dir)
	w := filepath.Join(dir, "w.pgrw")
	if code, _, stderr := run(t, nil, "parse", "-q", "--log-line-prefix", "%m|%u|%d|%c|", "-o", w, log); code != exitOK {
		t.Fatalf("parse: exit %d %s", code, stderr)
	}
	code, stdout, stderr := run(t, nil, "replay", "--calibrate", "--calibrate-step", "500ms", "--calibrate-max-speed", "4", "--json", "--target", pgtest.DSN(t), w)
	if code != exitOK {
		t.Fatalf("calibrate: exit %d %s", code, stderr)
	}
	var rep calibrate.Report
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("report is not JSON: %v\n%s", err, stdout)
	}
	if len(rep.Steps) == 0 || rep.Steps[0].Speed != 1 || rep.Best == nil || rep.PeakPerS == 0 || rep.Shards < 1 {
		t.Fatalf("report %+v", rep)
	}
	// The last step is speed 4, or the first that fell behind.
	last := rep.Steps[len(rep.Steps)-1]
	if last.Speed != 4 && last.Kept {
		t.Errorf("the ladder stopped at speed %g though it kept the schedule", last.Speed)
	}
	for _, want := range []string{stepHeader, "highest speed that kept lateness", fmt.Sprintf("at speed 1 it needs %d shard", rep.Shards)} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	// The log's table the candidate lacks is one failed statement of 61:
	// not enough to doubt the figures.
	if len(rep.Warnings) != 0 {
		t.Errorf("warnings %v", rep.Warnings)
	}
}

// TestCalibrateRefusals: calibrate takes no replay-only flag, no log, and
// no standby.
func TestCalibrateRefusals(t *testing.T) {
	dir := t.TempDir()
	log := smallCaptureLog(t, dir)
	w := filepath.Join(dir, "w.pgrw")
	if code, _, stderr := run(t, nil, "parse", "-q", "--log-line-prefix", "%m|%u|%d|%c|", "-o", w, log); code != exitOK {
		t.Fatalf("parse: exit %d %s", code, stderr)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--speed", "2", w}, "--speed does not apply"},
		{[]string{"-o", filepath.Join(dir, "r.jsonl"), w}, "--output does not apply"},
		{[]string{log}, "not a workload file: parse the log first"},
		{[]string{filepath.Join(dir, "missing.pgrw")}, "does not exist"},
	} {
		args := append([]string{"replay", "--calibrate", "--target", pgtest.DSN(t)}, c.args...)
		if code, _, stderr := run(t, nil, args...); code != exitUsage || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d, want %d with %q\n%s", c.args, code, exitUsage, c.want, stderr)
		}
	}
	primary := pgtest.StartCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	standby, err := primary.StartReplica(ctx, pgcluster.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { standby.Close(context.Background()) })
	code, _, stderr := run(t, nil, "replay", "--calibrate", "--target", standby.DSN("postgres", "postgres"), w)
	if code != exitUsage || !strings.Contains(stderr, "the target is in recovery") {
		t.Errorf("calibrate against a standby: exit %d %s", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "results.jsonl")); err == nil {
		t.Error("calibrate wrote a results file")
	}
}
