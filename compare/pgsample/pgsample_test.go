package pgsample

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"go.uber.org/goleak"

	"github.com/pgrehearse/pgrehearse/compare/metrics"
	"github.com/pgrehearse/pgrehearse/internal/pgcluster"
	"github.com/pgrehearse/pgrehearse/internal/pgtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(pgtest.M(m)) }

// TestSampleClusterWithReplica samples a real primary with a streaming
// replica while a write load runs, and checks every standard series
// comes out with plausible values.
func TestSampleClusterWithReplica(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	primary := pgtest.StartCluster(t, "wal_level = replica", "max_wal_senders = 4")
	replica, err := primary.StartReplica(ctx, pgcluster.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { replica.Close(context.Background()) })
	cfg, err := pgconn.ParseConfig(primary.DSN("postgres", "postgres"))
	if err != nil {
		t.Fatal(err)
	}
	// Wait for the replica to stream.
	c, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	for {
		if v, _ := scalar(ctx, c, "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'"); v == "1" {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("the replica never streamed")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := c.Exec(ctx, "CREATE TABLE load (id serial, v text)").ReadAll(); err != nil {
		t.Fatal(err)
	}

	sctx, stop := context.WithCancel(ctx)
	var out bytes.Buffer
	done := make(chan error, 1)
	go func() {
		_, err := (&Sampler{Config: cfg, Interval: 200 * time.Millisecond}).Run(sctx, &out)
		done <- err
	}()
	start := time.Now()
	for time.Since(start) < 2500*time.Millisecond {
		if _, err := c.Exec(ctx, "INSERT INTO load (v) SELECT repeat('x', 200) FROM generate_series(1, 2000); SELECT count(*) FROM load").ReadAll(); err != nil {
			t.Fatal(err)
		}
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "s.jsonl")
	os.WriteFile(path, out.Bytes(), 0o644)
	f, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if f.Trailer == nil || f.Trailer.Samples != len(f.Samples) || len(f.Samples) < 8 {
		t.Fatalf("trailer %+v, %d samples", f.Trailer, len(f.Samples))
	}
	if f.Header.CPU != "proc" || strings.Contains(f.Header.Target, "password") {
		t.Errorf("header %+v", f.Header)
	}
	set, err := (&Source{Path: path}).Fetch(ctx, metrics.Window{Start: start.Add(-time.Second), End: time.Now().Add(time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{metrics.CPU, metrics.ReadIOPS, metrics.WriteIOPS, metrics.Commits, metrics.Connections, metrics.ReplicaLag} {
		s := set.Get(m)
		if s == nil || len(s.Points) == 0 {
			t.Errorf("no %s series (warnings %v)", m, set.Warnings)
			continue
		}
		peak := 0.0
		for _, p := range s.Points {
			if p.V < 0 {
				t.Errorf("%s: negative value %v", m, p.V)
			}
			peak = max(peak, p.V)
		}
		// A write load drives the cluster's CPU, WAL writes and commits.
		if (m == metrics.CPU || m == metrics.WriteIOPS || m == metrics.Commits) && peak <= 0 {
			t.Errorf("%s never rose above 0 under load: %v", m, s.Points)
		}
		if m == metrics.CPU && peak > 100 {
			t.Errorf("cpu %v%% over 100", peak)
		}
		if s.Unit != metrics.Unit(m) || s.Source == "" {
			t.Errorf("%s: unit %q source %q", m, s.Unit, s.Source)
		}
	}
}

// TestTruncatedAndDamaged: a file cut mid-line keeps its samples; a bad
// line in the middle is an error naming it.
func TestTruncatedAndDamaged(t *testing.T) {
	dir := t.TempDir()
	head := `{"header":{"format":"pgrehearse-samples","version":1,"target":"x","interval_ms":1000,"started":"2026-11-22T12:00:00Z"}}` + "\n"
	s1 := `{"t":"2026-11-22T12:00:01Z","xact_commit":10,"numbackends":2,"blks_read":1,"buffers_written":0,"wal_write":0,"io_reads":-1,"io_writes":-1,"cpu_ticks":-1,"replicas":[]}` + "\n"
	s2 := `{"t":"2026-11-22T12:00:02Z","xact_commit":30,"numbackends":2,"blks_read":1,"buffers_written":0,"wal_write":0,"io_reads":-1,"io_writes":-1,"cpu_ticks":-1,"replicas":[]}` + "\n"
	cut := filepath.Join(dir, "cut.jsonl")
	os.WriteFile(cut, []byte(head+s1+s2+`{"t":"2026-11-22T12:0`), 0o644)
	f, err := ReadFile(cut)
	if err != nil || len(f.Samples) != 2 || f.Trailer != nil {
		t.Fatalf("cut file: %v, %+v", err, f)
	}
	set := f.Series(metrics.Window{Start: time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC), End: time.Date(2026, 11, 22, 13, 0, 0, 0, time.UTC)})
	if c := set.Get(metrics.Commits); c == nil || len(c.Points) != 1 || c.Points[0].V != 20 {
		t.Errorf("commits %+v", c)
	}
	if set.Get(metrics.CPU) != nil || len(set.Warnings) < 2 {
		t.Errorf("cpu without measurements, or warnings missing: %v", set.Warnings)
	}
	bad := filepath.Join(dir, "bad.jsonl")
	os.WriteFile(bad, []byte(head+s1+"garbage\n"+s2), 0o644)
	if _, err := ReadFile(bad); err == nil || !strings.Contains(err.Error(), ":3:") {
		t.Errorf("damaged file: %v, want an error at line 3", err)
	}
	if _, err := ReadFile(filepath.Join(dir, "none")); err == nil {
		t.Error("missing file read")
	}
}

func BenchmarkSample(b *testing.B) {
	ctx := context.Background()
	cfg, err := pgconn.ParseConfig(pgtest.DSN(b))
	if err != nil {
		b.Fatal(err)
	}
	s := &Sampler{Config: cfg}
	c, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close(ctx)
	v, _ := scalar(ctx, c, "SHOW server_version_num")
	n, _ := strconv.Atoi(v)
	q := query(n)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.sample(ctx, &c, q); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSampleServerTime reports what one sample costs the sampled
// server itself (planning plus execution, from EXPLAIN ANALYZE), apart
// from the round trip BenchmarkSample includes. At one sample a second
// this is the sampler's whole load on the cluster.
func BenchmarkSampleServerTime(b *testing.B) {
	ctx := context.Background()
	c, err := pgconn.Connect(ctx, pgtest.DSN(b))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close(ctx)
	v, _ := scalar(ctx, c, "SHOW server_version_num")
	n, _ := strconv.Atoi(v)
	q := "EXPLAIN (ANALYZE, FORMAT JSON) " + query(n)
	var total float64
	for b.Loop() {
		out, err := scalar(ctx, c, q)
		if err != nil {
			b.Fatal(err)
		}
		var plan []struct {
			Planning  float64 `json:"Planning Time"`
			Execution float64 `json:"Execution Time"`
		}
		if err := json.Unmarshal([]byte(out), &plan); err != nil || len(plan) != 1 {
			b.Fatalf("EXPLAIN output: %v %s", err, out)
		}
		total += plan[0].Planning + plan[0].Execution
	}
	b.ReportMetric(total/float64(b.N), "server-ms/sample")
}

// TestReadFileRejectsNoInterval: a samples file whose header has no
// interval (0) is refused with a message, not read into series of no
// period.
func TestReadFileRejectsNoInterval(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.jsonl")
	os.WriteFile(path, []byte(`{"header":{"format":"pgrehearse-samples","version":2,"target":"t","server_version_num":150000,"interval_ms":0,"started":"2026-11-22T12:00:00Z"}}`+"\n"+
		`{"t":"2026-11-22T12:00:01Z","commits":1}`+"\n"+`{"t":"2026-11-22T12:00:02Z","commits":5}`+"\n"), 0o600)
	_, err := ReadFile(path)
	if err == nil || !strings.Contains(err.Error(), "interval_ms is 0") || !strings.Contains(err.Error(), path) {
		t.Errorf("err %v", err)
	}
	if _, err := (&Source{Path: path}).Fetch(context.Background(), metrics.Window{Start: time.Unix(0, 0), End: time.Now()}); err == nil {
		t.Errorf("a source read a file without an interval")
	}
}
