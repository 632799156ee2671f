package drivers

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgrehearse/pgrehearse/internal/pgcluster"
	"github.com/pgrehearse/pgrehearse/internal/pgtest"
)

// captureBase is added to every scenario's logging style.
var captureBase = []string{"log_connections = on", "log_disconnections = on", "lc_messages = 'C'", "log_timezone = 'UTC'"}

// TargetLogging is the replay target's logging: every statement, every
// Parse and Bind with its duration (how often a named statement was
// prepared), every connection, in csvlog.
var TargetLogging = []string{"log_destination = 'csvlog'", "log_statement = 'all'", "log_min_duration_statement = 0",
	"log_connections = on", "log_disconnections = on", "lc_messages = 'C'", "log_timezone = 'UTC'"}

// Captured is the result of Capture.
type Captured struct {
	Scenario Scenario
	// Logs are the capture cluster's log files in the scenario's
	// format, holding only what the driver did.
	Logs []string
	// Target is a running clone of the capture cluster's state from
	// before the driver ran, logging with TargetLogging.
	Target *pgcluster.Cluster
	// Took is how long the driver program ran.
	Took time.Duration
}

// TargetLogs returns the target's csvlog files. Stop the target first
// (StopSmart, so replayed sessions end by their own disconnection) so that
// its logger has written everything.
func (c *Captured) TargetLogs() ([]string, error) {
	return logFiles(c.Target.LogDir(), ".csv")
}

// Capture runs a scenario: it starts a capture cluster with the
// scenario's logging style, runs the setup, clones the starting state into
// the replay target, runs the driver program, and stops the capture
// cluster so its log is complete. Both clusters are removed when the test
// ends. Missing drivers fail the test with the package to install.
func Capture(t testing.TB, sc Scenario) *Captured {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := sc.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	settings := append(append([]string{}, captureBase...), sc.Logging...)
	c := pgtest.StartCluster(t, settings...)
	if err := setup(ctx, c, &sc); err != nil {
		t.Fatalf("scenario %s: setup: %v", sc.Name, err)
	}
	target, err := c.StartClone(ctx, pgcluster.Options{Name: "target", Settings: TargetLogging})
	if err != nil {
		t.Fatalf("scenario %s: clone the starting state for the replay target: %v", sc.Name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := target.Close(ctx); err != nil {
			t.Logf("stop the replay target: %v", err)
		}
	})
	// The capture log starts now, as when logging is switched on for a
	// capture window: the setup is in the target's data, not in the log.
	if err := restartWithEmptyLog(ctx, c); err != nil {
		t.Fatalf("scenario %s: %v", sc.Name, err)
	}
	d := DSN{Host: "127.0.0.1", Port: c.Port(), User: sc.User, Database: sc.Database}
	start := time.Now()
	runErr := sc.Run(ctx, d)
	took := time.Since(start)
	// A smart stop lets the last backends finish their disconnection: a
	// fast one could end them with a FATAL production never had.
	if err := c.StopSmart(ctx); err != nil {
		t.Fatalf("scenario %s: stop the capture cluster: %v", sc.Name, err)
	}
	if runErr != nil {
		t.Fatalf("scenario %s: %v", sc.Name, runErr)
	}
	logs, err := logFiles(c.LogDir(), captureExt(sc.Logging))
	if err != nil || len(logs) == 0 {
		t.Fatalf("scenario %s: no capture log in %s (%v)", sc.Name, c.LogDir(), err)
	}
	return &Captured{Scenario: sc, Logs: logs, Target: target, Took: took}
}

func setup(ctx context.Context, c *pgcluster.Cluster, sc *Scenario) error {
	admin, err := pgconn.Connect(ctx, c.DSN("postgres", "postgres"))
	if err != nil {
		return err
	}
	defer admin.Close(ctx)
	for _, q := range []string{
		fmt.Sprintf("CREATE ROLE %s LOGIN", quoteIdent(sc.User)),
		fmt.Sprintf("CREATE DATABASE %s OWNER %s", quoteIdent(sc.Database), quoteIdent(sc.User)),
	} {
		if _, err := admin.Exec(ctx, q).ReadAll(); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	if sc.SetupSQL != "" {
		conn, err := pgconn.Connect(ctx, c.DSN(sc.User, sc.Database))
		if err != nil {
			return err
		}
		_, err = conn.Exec(ctx, sc.SetupSQL).ReadAll()
		conn.Close(ctx)
		if err != nil {
			return fmt.Errorf("setup SQL: %w", err)
		}
	}
	if sc.Setup != nil {
		return sc.Setup(ctx, DSN{Host: "127.0.0.1", Port: c.Port(), User: sc.User, Database: sc.Database})
	}
	return nil
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

func restartWithEmptyLog(ctx context.Context, c *pgcluster.Cluster) error {
	if err := c.Stop(ctx); err != nil {
		return fmt.Errorf("stop the capture cluster after the setup: %w", err)
	}
	entries, err := os.ReadDir(c.LogDir())
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := os.Remove(filepath.Join(c.LogDir(), e.Name())); err != nil {
			return fmt.Errorf("clear the setup's log: %w", err)
		}
	}
	if err := c.Restart(ctx); err != nil {
		return fmt.Errorf("start the capture cluster again: %w", err)
	}
	return nil
}

// captureExt is the extension of the files the logging style writes with
// log_filename = 'postgresql.log'.
func captureExt(logging []string) string {
	ext := ".log"
	for _, l := range logging {
		if v, ok := strings.CutPrefix(l, "log_destination = "); ok {
			switch {
			case strings.Contains(v, "csvlog"):
				ext = ".csv"
			case strings.Contains(v, "jsonlog"):
				ext = ".json"
			default:
				ext = ".log"
			}
		}
	}
	return ext
}

func logFiles(dir, ext string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if !e.IsDir() && filepath.Ext(e.Name()) == ext {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	sort.Strings(out)
	return out, nil
}

// KeepEnv names a directory where KeepLogs copies the logs of each
// scenario, for a person to read after the test.
const KeepEnv = "PGREHEARSE_DRIVERS_KEEP"

// KeepLogs copies log files into $PGREHEARSE_DRIVERS_KEEP/<scenario>/<side>/
// when that variable is set; otherwise it does nothing. The copies are
// private: logs hold statement texts and parameter values.
func KeepLogs(t testing.TB, scenario, side string, paths []string) {
	t.Helper()
	root := os.Getenv(KeepEnv)
	if root == "" {
		return
	}
	dir := filepath.Join(root, scenario, side)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Errorf("keep logs: %v", err)
		return
	}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, filepath.Base(p)), data, 0o600)
		}
		if err != nil {
			t.Errorf("keep logs: %v", err)
			return
		}
	}
	t.Logf("%s logs of %s kept in %s", side, scenario, dir)
}
