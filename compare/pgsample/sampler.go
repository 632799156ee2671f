// Package pgsample is the metric source for clusters without CloudWatch
// or Prometheus, and the local default: it samples a cluster's own
// statistics views every second into a samples file (pgrehearse sample
// during the capture, replay itself during the replay), and turns a
// samples file into the standard series for compare.
//
// Counters come from pg_stat_database, pg_stat_bgwriter (and
// pg_stat_checkpointer on 17+), pg_stat_wal on 14+, pg_stat_io on 16+ and
// pg_stat_replication, in one query per sample. CPU cannot be read from
// SQL: for a cluster on this host it is the postmaster and its children
// from /proc; for a remote cluster it is absent, and the report says to
// use CloudWatch or Prometheus for it.
package pgsample

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgrehearse/pgrehearse/internal/dsn"
)

// FormatVersion is the samples file version (docs/samples-format.md).
// Version 2 adds pg_stat_statements snapshots and pg_stat_io by backend
// type; version 1 files are read as before.
const FormatVersion = 2

// Header is the first line of a samples file.
type Header struct {
	Format  string `json:"format"`
	Version int    `json:"version"`
	// Target is the sampled cluster, without its password.
	Target        string `json:"target"`
	ServerVersion int    `json:"server_version_num"`
	IntervalMS    int64  `json:"interval_ms"`
	// CPU says how CPU was measured: "proc" (the postmaster and its
	// children on this host), or "" when it was not.
	CPU string `json:"cpu,omitempty"`
	// CPUs is the number of CPUs CPU percentages are relative to.
	CPUs int `json:"cpus,omitempty"`
	// ClockTicks is the unit of CPU ticks per second.
	ClockTicks int `json:"clock_ticks,omitempty"`
	// CPUWhyNot says why CPU is absent.
	CPUWhyNot string `json:"cpu_why_not,omitempty"`
	// Statements names the pg_stat_statements version snapshotted, or
	// StatementsWhyNot says why there are no snapshots.
	Statements       string `json:"statements,omitempty"`
	StatementsWhyNot string `json:"statements_why_not,omitempty"`
	Started          string `json:"started"`
}

// Replica is one standby's state in a sample.
type Replica struct {
	Name string `json:"name"`
	// LagMS is replay_lag in milliseconds; nil when the server has no
	// figure (an idle primary reports none: that is no lag).
	LagMS *float64 `json:"lag_ms"`
	// BytesBehind is how much WAL sent is not yet replayed.
	BytesBehind int64 `json:"bytes_behind"`
}

// Sample is one reading of the cumulative counters. A counter the server
// version lacks is -1.
type Sample struct {
	T              time.Time `json:"t"`
	Commits        int64     `json:"xact_commit"`
	Rollbacks      int64     `json:"xact_rollback"`
	BlksRead       int64     `json:"blks_read"`
	BlksHit        int64     `json:"blks_hit"`
	TempBytes      int64     `json:"temp_bytes"`
	Deadlocks      int64     `json:"deadlocks"`
	Backends       int64     `json:"numbackends"`
	BuffersWritten int64     `json:"buffers_written"`
	WALWrites      int64     `json:"wal_write"`
	WALBytes       int64     `json:"wal_bytes"`
	IOReads        int64     `json:"io_reads"`
	IOWrites       int64     `json:"io_writes"`
	CPUTicks       int64     `json:"cpu_ticks"`
	Replicas       []Replica `json:"replicas"`
	// IOByBackend is pg_stat_io's reads and writes of relations by
	// backend type (16+).
	IOByBackend map[string][2]int64 `json:"io_by_backend,omitempty"`
}

// Trailer is the last line of a complete samples file.
type Trailer struct {
	Samples  int    `json:"samples"`
	Finished string `json:"finished"`
	// Errors counts samples that failed (the cluster restarting, a lost
	// connection); sampling went on after them.
	Errors int `json:"errors"`
}

// ApplicationName is the sampler's application_name unless the DSN sets
// one.
const ApplicationName = "pgrehearse-sample"

// Sampler samples one cluster's statistics views.
type Sampler struct {
	Config *pgconn.Config
	// Interval between samples; default 1s.
	Interval time.Duration
	// Warn, when set, is told about failed samples.
	Warn func(error)
}

func query(version int) string {
	writes := "(SELECT buffers_checkpoint + buffers_clean + buffers_backend FROM pg_stat_bgwriter)"
	if version >= 170000 {
		writes = "(SELECT buffers_written FROM pg_stat_checkpointer) + (SELECT buffers_clean FROM pg_stat_bgwriter)"
	}
	wal := "-1, -1"
	if version >= 140000 {
		wal = "(SELECT wal_write FROM pg_stat_wal), (SELECT wal_bytes::bigint FROM pg_stat_wal)"
	}
	// pg_stat_io (16+): reads and writes of relations; PostgreSQL 18
	// adds WAL to the view, left out here as on 16 and 17.
	io, byBackend := "-1, -1", "NULL"
	if version >= 160000 {
		rel := "FROM pg_stat_io WHERE object IN ('relation', 'temp relation')"
		io = "(SELECT coalesce(sum(reads), 0)::bigint " + rel + "), (SELECT coalesce(sum(writes), 0)::bigint " + rel + ")"
		byBackend = "(SELECT json_object_agg(backend_type, json_build_array(r, w)) FROM (SELECT backend_type, coalesce(sum(reads), 0)::bigint AS r, coalesce(sum(writes), 0)::bigint AS w " +
			rel + " GROUP BY backend_type) io)"
	}
	return Tag + `SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
  sum(xact_commit)::bigint, sum(xact_rollback)::bigint, sum(blks_read)::bigint, sum(blks_hit)::bigint,
  sum(temp_bytes)::bigint, sum(deadlocks)::bigint, sum(numbackends)::bigint, ` + writes + `, ` + wal + `, ` + io + `,
  (SELECT coalesce(json_agg(json_build_object('name', application_name,
      'lag_ms', extract(epoch FROM replay_lag) * 1000,
      'bytes_behind', coalesce(pg_wal_lsn_diff(sent_lsn, replay_lsn), 0)::bigint)), '[]') FROM pg_stat_replication),
  ` + byBackend + `
FROM pg_stat_database`
}

// Run samples until ctx ends, writing the samples file to w. The trailer
// is always written, so the file is complete however sampling stopped.
func (s *Sampler) Run(ctx context.Context, w io.Writer) (*Trailer, error) {
	interval := s.Interval
	if interval <= 0 {
		interval = time.Second
	}
	if _, ok := s.Config.RuntimeParams["application_name"]; !ok {
		// Named, so a capture taken while sampling can leave it out
		// (parse --application '!pgrehearse-sample').
		cfg := s.Config.Copy()
		if cfg.RuntimeParams == nil {
			cfg.RuntimeParams = map[string]string{}
		}
		cfg.RuntimeParams["application_name"] = ApplicationName
		s.Config = cfg
	}
	c, err := pgconn.ConnectConfig(ctx, s.Config)
	if err != nil {
		return nil, fmt.Errorf("sample: connect to %s: %w", dsn.Describe(s.Config), err)
	}
	defer func() { c.Close(context.Background()) }()
	version, _ := strconv.Atoi(c.ParameterStatus("server_version"))
	if v, err := scalar(ctx, c, Tag+"SHOW server_version_num"); err == nil {
		version, _ = strconv.Atoi(v)
	}
	h := Header{Format: "pgrehearse-samples", Version: FormatVersion, Target: dsn.Describe(s.Config), ServerVersion: version,
		IntervalMS: interval.Milliseconds(), Started: time.Now().UTC().Format(time.RFC3339Nano)}
	cpu := s.cpuReader(ctx, c, &h)
	pgss := statementsReader(ctx, c, &h)
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.Encode(map[string]any{"header": h})
	bw.Flush()
	q := query(version)
	tr := &Trailer{}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	var lastSnap time.Time
	snap := func(ctx context.Context) {
		if !pgss || c.IsClosed() {
			return
		}
		if sn, err := snapshot(ctx, c, version); err == nil {
			enc.Encode(map[string]any{"statements": sn})
			bw.Flush()
			lastSnap = time.Now()
		} else if s.Warn != nil && ctx.Err() == nil {
			s.Warn(fmt.Errorf("sample: pg_stat_statements: %w", err))
		}
	}
	snap(ctx)
	for {
		if time.Since(lastSnap) >= StatementsEvery {
			snap(ctx)
		}
		smp, err := s.sample(ctx, &c, q)
		switch {
		case err != nil && ctx.Err() == nil:
			tr.Errors++
			if s.Warn != nil {
				s.Warn(err)
			}
		case err == nil:
			smp.CPUTicks = -1
			if cpu != nil {
				smp.CPUTicks = cpu()
			}
			enc.Encode(smp)
			bw.Flush()
			tr.Samples++
		}
		select {
		case <-tick.C:
			continue
		case <-ctx.Done():
		}
		break
	}
	// The last snapshot closes the window, however sampling stopped.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	snap(fctx)
	cancel()
	tr.Finished = time.Now().UTC().Format(time.RFC3339Nano)
	enc.Encode(map[string]any{"trailer": tr})
	return tr, bw.Flush()
}

// sample reads one sample, reconnecting once when the connection was lost
// (a restarted cluster keeps being sampled).
func (s *Sampler) sample(ctx context.Context, c **pgconn.PgConn, q string) (*Sample, error) {
	if (*c).IsClosed() {
		nc, err := pgconn.ConnectConfig(ctx, s.Config)
		if err != nil {
			return nil, fmt.Errorf("sample: reconnect: %w", err)
		}
		*c = nc
	}
	qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	res, err := (*c).Exec(qctx, q).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("sample: %w", err)
	}
	if len(res) != 1 || len(res[0].Rows) != 1 || len(res[0].Rows[0]) != 15 {
		return nil, fmt.Errorf("sample: unexpected result shape")
	}
	row := res[0].Rows[0]
	smp := &Sample{}
	if smp.T, err = time.Parse(time.RFC3339Nano, string(row[0])); err != nil {
		return nil, fmt.Errorf("sample: server time %q: %w", row[0], err)
	}
	nums := []*int64{&smp.Commits, &smp.Rollbacks, &smp.BlksRead, &smp.BlksHit, &smp.TempBytes, &smp.Deadlocks,
		&smp.Backends, &smp.BuffersWritten, &smp.WALWrites, &smp.WALBytes, &smp.IOReads, &smp.IOWrites}
	for i, p := range nums {
		if row[i+1] == nil {
			*p = -1
			continue
		}
		v, err := strconv.ParseInt(string(row[i+1]), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("sample: column %d: %w", i+1, err)
		}
		*p = v
	}
	if err := json.Unmarshal(row[13], &smp.Replicas); err != nil {
		return nil, fmt.Errorf("sample: replicas: %w", err)
	}
	if row[14] != nil {
		if err := json.Unmarshal(row[14], &smp.IOByBackend); err != nil {
			return nil, fmt.Errorf("sample: pg_stat_io by backend type: %w", err)
		}
	}
	return smp, nil
}

func scalar(ctx context.Context, c *pgconn.PgConn, q string) (string, error) {
	res, err := c.Exec(ctx, q).ReadAll()
	if err != nil {
		return "", err
	}
	if len(res) != 1 || len(res[0].Rows) != 1 {
		return "", fmt.Errorf("%s: no row", q)
	}
	return string(res[0].Rows[0][0]), nil
}

// isLocal reports whether host is this machine: a Unix socket directory
// or a loopback address.
func isLocal(host string) bool {
	if strings.HasPrefix(host, "/") || host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// cpuReader returns a function reading the cluster's CPU ticks from
// /proc, or nil (with h.CPUWhyNot set) when that is not possible.
func (s *Sampler) cpuReader(ctx context.Context, c *pgconn.PgConn, h *Header) func() int64 {
	if !isLocal(s.Config.Host) {
		h.CPUWhyNot = "the cluster is not on this host, and CPU is not available from SQL: use a cloudwatch: or prometheus: source for CPU"
		return nil
	}
	dir, err := scalar(ctx, c, Tag+"SHOW data_directory")
	if err != nil {
		h.CPUWhyNot = "SHOW data_directory was refused (needs superuser or pg_read_all_settings), so the postmaster could not be found"
		return nil
	}
	raw, err := os.ReadFile(filepath.Join(dir, "postmaster.pid"))
	if err != nil {
		h.CPUWhyNot = fmt.Sprintf("cannot read %s/postmaster.pid (%v): run the sampler as the cluster's OS user, or use a prometheus: source", dir, err)
		return nil
	}
	first, _, _ := strings.Cut(string(raw), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil {
		h.CPUWhyNot = "postmaster.pid has no pid"
		return nil
	}
	if _, err := procTicks(pid, true); err != nil {
		h.CPUWhyNot = fmt.Sprintf("cannot read /proc for the postmaster: %v", err)
		return nil
	}
	h.CPU, h.CPUs, h.ClockTicks = "proc", runtime.NumCPU(), clockTicks
	return func() int64 { return clusterTicks(pid) }
}
