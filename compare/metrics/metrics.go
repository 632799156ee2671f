// Package metrics defines what every metric source gives compare: time
// series for one cluster over one window, in units normalised across
// sources (CPU in percent, IOPS in operations per second, replica lag in
// milliseconds), each saying where it came from and what to keep in mind
// when comparing it with another source's.
package metrics

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"
)

// Standard metric names. Every source gives the first four where it can;
// the rest where it has them.
const (
	CPU            = "cpu"             // percent of the cluster's CPU capacity
	ReadIOPS       = "read_iops"       // reads per second
	WriteIOPS      = "write_iops"      // writes per second
	ReplicaLag     = "replica_lag"     // milliseconds, worst replica
	Commits        = "commits"         // commits per second
	Connections    = "connections"     // open connections
	ReadLatency    = "read_latency"    // milliseconds per read
	WriteLatency   = "write_latency"   // milliseconds per write
	FreeableMemory = "freeable_memory" // bytes
	// DB load is average active sessions (Performance Insights' figure):
	// all of them, those on CPU, and those waiting on something else.
	DBLoad       = "db_load"
	DBLoadCPU    = "db_load_cpu"
	DBLoadNonCPU = "db_load_noncpu"
	// Volume I/O is Aurora's cluster volume, what Aurora bills.
	VolumeReadIOPS  = "volume_read_iops"
	VolumeWriteIOPS = "volume_write_iops"
)

// names lists the standard metrics in the order reports show them.
var names = []string{CPU, ReadIOPS, WriteIOPS, ReplicaLag, DBLoad, DBLoadCPU, DBLoadNonCPU, Commits, Connections,
	ReadLatency, WriteLatency, FreeableMemory, VolumeReadIOPS, VolumeWriteIOPS}

// units, by metric name.
var units = map[string]string{
	CPU: "%", ReadIOPS: "ops/s", WriteIOPS: "ops/s", ReplicaLag: "ms", Commits: "commits/s",
	Connections: "connections", ReadLatency: "ms", WriteLatency: "ms", FreeableMemory: "bytes",
	DBLoad: "AAS", DBLoadCPU: "AAS", DBLoadNonCPU: "AAS", VolumeReadIOPS: "ops/s", VolumeWriteIOPS: "ops/s",
}

// Known reports whether name is a standard metric name.
func Known(name string) bool { _, ok := units[name]; return ok }

// Names lists the standard metrics in the order reports show them (a
// copy: the list is the package's).
func Names() []string { return slices.Clone(names) }

// Unit is a standard metric's unit, "" for another name.
func Unit(name string) string { return units[name] }

// Window is a span of wall-clock time.
type Window struct {
	Start, End time.Time
}

// Duration is the window's length.
func (w Window) Duration() time.Duration { return w.End.Sub(w.Start) }

// Point is one value at one time (the start of its period).
type Point struct {
	T time.Time `json:"t"`
	V float64   `json:"v"`
}

// Series is one metric of one cluster.
type Series struct {
	Metric string `json:"metric"`
	Unit   string `json:"unit"`
	// Period is the spacing of the points.
	Period time.Duration `json:"period"`
	// Source says where the values came from, precisely enough to check
	// them by hand ("cloudwatch AWS/RDS CPUUtilization DBInstanceIdentifier=db-1").
	Source string `json:"source"`
	// Caveats are what to keep in mind comparing this series with
	// another source's.
	Caveats []string `json:"caveats,omitempty"`
	Points  []Point  `json:"points"`
}

// Set is what a source returned for one cluster and one window.
type Set struct {
	Source string   `json:"source"`
	Window Window   `json:"window"`
	Series []Series `json:"series"`
	// Warnings are problems that did not stop the fetch (coarse
	// resolution, a metric with no data, a replica without lag figures).
	Warnings []string `json:"warnings,omitempty"`
	// Waits is the load by wait event and by statement, where the source
	// has it (Performance Insights).
	Waits *Waits `json:"waits,omitempty"`
	// Statements are the server's own per-query statistics over the
	// window, where the source has them (pg_stat_statements).
	Statements *Statements `json:"statements,omitempty"`
}

// Get returns the series for metric, or nil.
func (s *Set) Get(metric string) *Series {
	for i := range s.Series {
		if s.Series[i].Metric == metric {
			return &s.Series[i]
		}
	}
	return nil
}

// Source fetches the metrics of one cluster.
type Source interface {
	// Fetch returns the series for w. A metric the source cannot give is
	// absent from the set (with a warning), never zero-filled.
	Fetch(ctx context.Context, w Window) (*Set, error)
	// String describes the source without secrets.
	String() string
}

// Spec is a parsed source spec: KIND:ARG[,key=value...]. The same
// grammar serves --baseline-metrics and --candidate-metrics:
//
//	cloudwatch:instance=ID[,replicas=ID;ID][,region=R][,profile=P][,enhanced=on|off|auto][,pi=on|off|auto]
//	cloudwatch:cluster=ID[,writer=ID][,region=R][,profile=P][,enhanced=on|off|auto][,pi=on|off|auto]
//	pg:DSN | pg:FILE
//	prometheus:URL[,instance=I][,bearer-token-file=F][,user=U,password-file=F]
type Spec struct {
	Kind string
	// Arg is what follows "KIND:" up to the first option: the DSN or file
	// for pg, the URL for prometheus, empty for cloudwatch.
	Arg     string
	Options map[string]string
}

// ParseSpec reads a source spec.
func ParseSpec(s string) (Spec, error) {
	kind, rest, ok := strings.Cut(s, ":")
	if !ok || kind == "" {
		return Spec{}, fmt.Errorf("metrics spec %q: want KIND:..., with KIND one of cloudwatch, pg, prometheus", s)
	}
	sp := Spec{Kind: kind, Options: map[string]string{}}
	switch kind {
	case "pg":
		// A DSN holds spaces, '=' and ',' of its own: all of it is the arg.
		sp.Arg = rest
		if rest == "" {
			return sp, fmt.Errorf("metrics spec %q: pg: needs a DSN or a samples file", s)
		}
		return sp, nil
	case "prometheus":
		url, opts, _ := strings.Cut(rest, ",")
		if !strings.HasPrefix(url, "http://") && !strings.HasPrefix(url, "https://") {
			return sp, fmt.Errorf("metrics spec %q: prometheus: needs the server's URL (http://host:9090)", s)
		}
		sp.Arg, rest = url, opts
	case "cloudwatch":
	default:
		return sp, fmt.Errorf("metrics spec %q: unknown kind %q: use cloudwatch, pg or prometheus", s, kind)
	}
	if rest == "" {
		return sp, nil
	}
	for _, kv := range strings.Split(rest, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return sp, fmt.Errorf("metrics spec %q: %q is not key=value", s, kv)
		}
		sp.Options[k] = v
	}
	return sp, nil
}

// Stats sums up a series.
type Stats struct {
	N    int     `json:"n"`
	Mean float64 `json:"mean"`
	P95  float64 `json:"p95"`
	Max  float64 `json:"max"`
}

// Summarize computes a series' mean, 95th percentile (nearest rank) and
// maximum.
func Summarize(ps []Point) Stats {
	if len(ps) == 0 {
		return Stats{}
	}
	vs := make([]float64, len(ps))
	// A running mean keeps a constant series' value exactly (see
	// AlignWindow), where a sum divided by n can miss it by a rounding.
	mean := 0.0
	for i, p := range ps {
		vs[i] = p.V
		mean += (p.V - mean) / float64(i+1)
	}
	sort.Float64s(vs)
	rank := int(math.Ceil(0.95*float64(len(vs)))) - 1
	return Stats{N: len(vs), Mean: mean, P95: vs[max(rank, 0)], Max: vs[len(vs)-1]}
}

// Percentile is the p-th percentile (nearest rank) of the points' values.
func Percentile(ps []Point, p float64) float64 {
	if len(ps) == 0 {
		return 0
	}
	vs := make([]float64, len(ps))
	for i, pt := range ps {
		vs[i] = pt.V
	}
	sort.Float64s(vs)
	return vs[max(int(math.Ceil(p/100*float64(len(vs))))-1, 0)]
}
