package compare

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"golang.org/x/sync/errgroup"

	"github.com/pgrehearse/pgrehearse/compare/metrics"
	"github.com/pgrehearse/pgrehearse/compare/pgsample"
	"github.com/pgrehearse/pgrehearse/parse"
	"github.com/pgrehearse/pgrehearse/parse/fingerprint"
	"github.com/pgrehearse/pgrehearse/replay"
)

// FormatVersion is the comparison document's version
// (docs/comparison-format.md).
const FormatVersion = 1

// Verdicts.
const (
	GO           = "GO"
	NOGO         = "NO-GO"
	INCONCLUSIVE = "INCONCLUSIVE"
)

// Comparison is the document every report renders.
type Comparison struct {
	Format    string       `json:"format"`
	Version   int          `json:"version"`
	Generated string       `json:"generated"`
	Verdict   Verdict      `json:"verdict"`
	Fidelity  Fidelity     `json:"fidelity"`
	Metrics   []Metric     `json:"metrics"`
	Latency   Latency      `json:"latency"`
	Errors    Errors       `json:"errors"`
	Gates     []GateResult `json:"gates"`
	// DefaultGates is set when no gates were given and the defaults ran.
	DefaultGates bool     `json:"default_gates"`
	Warnings     []string `json:"warnings,omitempty"`
}

// Verdict is the answer: GO, NO-GO or INCONCLUSIVE, why, and what next.
type Verdict struct {
	Result string   `json:"result"`
	Reason string   `json:"reason"`
	Next   []string `json:"next,omitempty"`
}

// Fidelity says how faithfully the replay reproduced the capture.
type Fidelity struct {
	Workload         string           `json:"workload"`
	CaptureStart     time.Time        `json:"capture_start"`
	CaptureEnd       time.Time        `json:"capture_end"`
	ReplayStart      time.Time        `json:"replay_start"`
	ReplayEnd        time.Time        `json:"replay_end"`
	Speed            float64          `json:"speed"`
	Shards           int              `json:"shards"`
	Statements       int64            `json:"statements"`
	Replayed         int64            `json:"replayed"`
	Skipped          map[string]int64 `json:"skipped,omitempty"`
	Sessions         int64            `json:"sessions"`
	OriginalSessions int64            `json:"original_sessions"`
	PeakSessions     int64            `json:"original_peak_sessions"`
	// OriginalPeakActive and ReplayPeakActive are the most sessions
	// between their first statement's start and their last statement's
	// end at one time, counted the same way on both sides so that the
	// concurrency the replay reproduced can be set against the capture's.
	OriginalPeakActive int64   `json:"original_peak_active"`
	ReplayPeakActive   int64   `json:"replay_peak_active"`
	LatenessP99MS      float64 `json:"lateness_p99_ms"`
	LatenessMaxMS      float64 `json:"lateness_max_ms"`
	LateShare          float64 `json:"late_over_100ms_share"`
	DurationS          float64 `json:"duration_s"`
	OriginalS          float64 `json:"original_duration_s"`
	BehindSchedule     bool    `json:"behind_schedule"`
	// Bottleneck is who made statements late when behind schedule:
	// "target" (the candidate was slower than production) or "replayer".
	Bottleneck  string   `json:"bottleneck,omitempty"`
	Diagnosis   []string `json:"diagnosis,omitempty"`
	Interrupted bool     `json:"interrupted"`
}

// Metric is one cluster metric side by side.
type Metric struct {
	Name            string           `json:"name"`
	Unit            string           `json:"unit"`
	Baseline        *metrics.Stats   `json:"baseline"`
	Candidate       *metrics.Stats   `json:"candidate"`
	BaselineSource  string           `json:"baseline_source,omitempty"`
	CandidateSource string           `json:"candidate_source,omitempty"`
	Caveats         []string         `json:"caveats,omitempty"`
	BaselineSeries  *metrics.Aligned `json:"baseline_series,omitempty"`
	CandidateSeries *metrics.Aligned `json:"candidate_series,omitempty"`
	// WarmupS is the start of each series dropped from the figures.
	WarmupS float64 `json:"warmup_s"`
}

// Latency compares statement latency, overall and per query.
type Latency struct {
	// Basis says how the two sides were made comparable.
	Basis     string  `json:"basis"`
	Baseline  *Pcts   `json:"baseline"`
	Candidate *Pcts   `json:"candidate"`
	Top       []Query `json:"top"`
	Regressed []Query `json:"regressed"`
}

// Pcts are latency percentiles in ms.
type Pcts struct {
	Count int64   `json:"count"`
	P50   float64 `json:"p50_ms"`
	P95   float64 `json:"p95_ms"`
	P99   float64 `json:"p99_ms"`
}

// Query is one normalised query's latency on both sides.
type Query struct {
	Fingerprint string  `json:"fingerprint"`
	Text        string  `json:"query"`
	Calls       int64   `json:"calls"`
	TotalMS     float64 `json:"total_ms"`
	Baseline    *Pcts   `json:"baseline,omitempty"`
	Candidate   *Pcts   `json:"candidate"`
	// RatioP99 is candidate p99 / baseline p99 (0 without a baseline).
	RatioP99 float64 `json:"ratio_p99,omitempty"`
}

// Errors lists failures by SQLSTATE and query.
type Errors struct {
	New   []ErrorCount `json:"new"`
	Both  []ErrorCount `json:"both"`
	Total int64        `json:"total"`
	NewN  int64        `json:"new_count"`
}

// ErrorCount is how often one query failed with one SQLSTATE.
type ErrorCount struct {
	SQLState    string `json:"sqlstate"`
	Fingerprint string `json:"fingerprint"`
	Query       string `json:"query"`
	Count       int64  `json:"count"`
	// Example is the first failing statement as production sent it, with
	// its parameter values; only with Input.ShowParams, because those
	// values are production data.
	Example *Example `json:"example,omitempty"`
}

// Example is one statement of the workload as it was logged.
type Example struct {
	Session uint64   `json:"session"`
	Index   int      `json:"index"`
	Text    string   `json:"text"`
	Params  []string `json:"params,omitempty"`
}

// Input is what Build compares.
type Input struct {
	Workload string
	Results  []string
	// Baseline and Candidate are the metric sources (nil: none).
	Baseline, Candidate metrics.Source
	Gates               []Gate
	// Warmup is dropped from the start of both sides' metrics; negative
	// means the default (10 % of the window, at most 60 s).
	Warmup time.Duration
	// Top is how many queries the latency tables show (default 10).
	Top int
	// CandidateLogs are the candidate's own statement logs from the
	// replay (log_min_duration_statement = 0), parsed with
	// CandidateLogOptions. With them latency is compared server-side on
	// both sides, which is like for like; without them the candidate's
	// client-side latency minus the measured round trip stands in.
	CandidateLogs       []string
	CandidateLogOptions parse.Options
	// ShowParams puts the first failing statement of each new error,
	// with its parameter values, in the document. Off by default: the
	// values are production data.
	ShowParams bool
}

// DefaultGates are used when none are given. Gates on metrics no source
// provides are left out rather than made inconclusive.
var DefaultGates = []string{
	"errors.new == 0",
	"replay.lateness.p99 < 100ms",
	"latency.p99 <= baseline * 1.25",
	"cpu.p95 < 80",
	"cpu.p95 <= baseline * 1.25",
	"replica_lag.max < 1s",
}

type qstat struct {
	text       string
	base, cand *hdrhistogram.Histogram
	// server holds the candidate's server-side durations, from its log.
	server  *hdrhistogram.Histogram
	calls   int64
	totalUS int64
}

func newHist() *hdrhistogram.Histogram {
	return hdrhistogram.New(1, int64(time.Hour/time.Microsecond), 2)
}

func pcts(h *hdrhistogram.Histogram) *Pcts {
	if h == nil || h.TotalCount() == 0 {
		return nil
	}
	ms := func(q float64) float64 { return float64(h.ValueAtQuantile(q)) / 1000 }
	return &Pcts{Count: h.TotalCount(), P50: ms(50), P95: ms(95), P99: ms(99)}
}

// Build reads the workload and the results, fetches the metrics, and
// evaluates the gates.
func Build(ctx context.Context, in Input) (*Comparison, error) {
	c := &Comparison{Format: "pgrehearse-comparison", Version: FormatVersion, Generated: time.Now().UTC().Format(time.RFC3339)}
	if in.Top <= 0 {
		in.Top = 10
	}
	fps := &fingerprint.Cache{}
	queries := map[fingerprint.ID]*qstat{}
	q := func(text string) (fingerprint.ID, *qstat) {
		id, norm := fps.Lookup(text)
		s := queries[id]
		if s == nil {
			s = &qstat{text: norm}
			queries[id] = s
		}
		return id, s
	}
	baseAll := newHist()

	// The workload: capture window, server-side durations, errors.
	f, err := os.Open(in.Workload)
	if err != nil {
		return nil, fmt.Errorf("compare: %w", err)
	}
	origSpans, replaySpans := spans{}, spans{}
	tr, err := statements(ctx, "workload "+in.Workload, bufio.NewReaderSize(f, 256<<10), func(ev *parse.Event) bool {
		origSpans.add(ev.Session.ID, ev.Time, ev.Time+max(ev.Duration, 0))
		_, s := q(ev.Text)
		if ev.Duration >= 0 && ev.Err == nil {
			if s.base == nil {
				s.base = newHist()
			}
			s.base.RecordValue(max(ev.Duration, 1))
			baseAll.RecordValue(max(ev.Duration, 1))
		}
		return true
	})
	f.Close()
	if err != nil {
		return nil, err
	}
	if tr == nil {
		return nil, fmt.Errorf("compare: workload %s is truncated: parse the log again", in.Workload)
	}
	fid := &c.Fidelity
	fid.Workload = in.Workload
	fid.CaptureStart, fid.CaptureEnd = time.UnixMicro(tr.FirstUS).UTC(), time.UnixMicro(tr.LastUS).UTC()
	fid.OriginalSessions, fid.PeakSessions = tr.Sessions, tr.PeakSessions
	fid.OriginalS = fid.CaptureEnd.Sub(fid.CaptureStart).Seconds()

	// The results, merged across shards.
	candAll := newHist()
	lateness := newHist()
	newErrs, bothErrs := map[[2]string]int64{}, map[[2]string]int64{}
	examples := map[[2]string]*Example{}
	wanted := map[[2]uint64]*Example{}
	fid.Skipped = map[string]int64{}
	var rtt int64
	for _, path := range in.Results {
		shard := uint64(fid.Shards) << 48
		h, sum, err := readResults(path, func(l *resultLine) {
			if l.StartUS > 0 {
				// Session ids are per workload, so shards never share one;
				// the shard number keeps them apart all the same.
				replaySpans.add(shard|l.S, l.StartUS, l.StartUS+l.LatUS)
			}
			id, err := fingerprint.ParseID(l.FP)
			if err != nil {
				return
			}
			s := queries[id]
			if s == nil {
				s = &qstat{text: "(not in the workload)"}
				queries[id] = s
			}
			if l.Skipped != "" {
				fid.Skipped[l.Skipped]++
				return
			}
			if l.SQLState != "" {
				k := [2]string{l.SQLState, l.FP}
				if l.New {
					newErrs[k]++
					if in.ShowParams && examples[k] == nil {
						ex := &Example{Session: l.S, Index: l.I}
						examples[k] = ex
						wanted[[2]uint64{l.S, uint64(l.I)}] = ex
					}
				} else {
					bothErrs[k]++
				}
				return
			}
			lat := max(l.LatUS-rtt, 1)
			if s.cand == nil {
				s.cand = newHist()
			}
			s.cand.RecordValue(lat)
			candAll.RecordValue(lat)
			s.calls++
			s.totalUS += lat
		}, &rtt)
		if err != nil {
			return nil, fmt.Errorf("compare: %w", err)
		}
		fid.Shards++
		fid.Speed = h.Speed
		st, _ := time.Parse(time.RFC3339Nano, h.Started)
		if fid.ReplayStart.IsZero() || st.Before(fid.ReplayStart) {
			fid.ReplayStart = st
		}
		if sum == nil {
			c.Warnings = append(c.Warnings, path+": no trailer: the replay was killed; its statements so far are counted")
			fid.Interrupted = true
			continue
		}
		fin, _ := time.Parse(time.RFC3339Nano, sum.Finished)
		if fin.After(fid.ReplayEnd) {
			fid.ReplayEnd = fin
		}
		fid.Statements += sum.Statements
		fid.Replayed += sum.Replayed
		fid.Sessions += sum.Sessions
		fid.Interrupted = fid.Interrupted || sum.Interrupted
		fid.DurationS = max(fid.DurationS, sum.DurationS)
		if enc, ok := sum.Histograms["lateness"]; ok {
			if raw, err := base64.StdEncoding.DecodeString(enc); err == nil {
				if hh, err := hdrhistogram.Decode(raw); err == nil {
					lateness.Merge(hh)
				}
			}
		}
		if sum.BehindSchedule {
			fid.BehindSchedule = true
			if fid.Bottleneck == "" || sum.Bottleneck == "replayer" {
				fid.Bottleneck = sum.Bottleneck
			}
			fid.Diagnosis = append(fid.Diagnosis, sum.Diagnosis)
		}
		fid.LateShare = max(fid.LateShare, sum.LateOver100ms)
	}
	fid.OriginalPeakActive, fid.ReplayPeakActive = origSpans.peak(), replaySpans.peak()
	if lateness.TotalCount() > 0 {
		fid.LatenessP99MS = float64(lateness.ValueAtQuantile(99)) / 1000
		fid.LatenessMaxMS = float64(lateness.Max()) / 1000
	}

	// Latency: log durations are server-side; client latencies minus the
	// measured round trip are set beside them, unless the candidate's own
	// log gives server-side durations too.
	c.Latency.Basis = "baseline: server-side durations from the log; candidate: client-side latency minus the round trip measured before the replay"
	if rtt == 0 {
		c.Latency.Basis = "baseline: server-side durations from the log; candidate: client-side latency (round trip not measured, so it is included)"
	}
	if len(in.CandidateLogs) > 0 {
		serverAll, err := candidateDurations(ctx, in, queries, fid.ReplayStart, fid.ReplayEnd)
		if err != nil {
			return nil, err
		}
		if serverAll.TotalCount() == 0 {
			c.Warnings = append(c.Warnings, "the candidate's log has no durations of the workload's statements in the replay window: set log_min_duration_statement = 0 on the candidate while replaying; client-side latency is used instead")
		} else {
			candAll = serverAll
			c.Latency.Basis = "server-side durations from the logs on both sides (the candidate's log written during the replay)"
			for _, s := range queries {
				if s.server != nil {
					s.cand = s.server
				}
			}
		}
	}
	if baseAll.TotalCount() == 0 {
		c.Latency.Basis = "candidate only; the log has no durations (set log_min_duration_statement = 0 when capturing to compare latency)"
	}
	c.Latency.Baseline, c.Latency.Candidate = pcts(baseAll), pcts(candAll)
	var rows []Query
	for id, s := range queries {
		if s.cand == nil {
			continue
		}
		row := Query{Fingerprint: id.String(), Text: s.text, Calls: s.calls, TotalMS: float64(s.totalUS) / 1000, Baseline: pcts(s.base), Candidate: pcts(s.cand)}
		if s.server != nil && s.server == s.cand {
			row.TotalMS = s.server.Mean() * float64(s.server.TotalCount()) / 1000
		}
		if row.Baseline != nil && row.Baseline.P99 > 0 {
			row.RatioP99 = row.Candidate.P99 / row.Baseline.P99
		}
		rows = append(rows, row)
	}
	sort.Slice(rows, func(i, j int) bool {
		return rows[i].TotalMS > rows[j].TotalMS || rows[i].TotalMS == rows[j].TotalMS && rows[i].Fingerprint < rows[j].Fingerprint
	})
	c.Latency.Top = rows[:min(in.Top, len(rows))]
	var reg []Query
	for _, row := range rows {
		if row.RatioP99 > 1 && row.Calls >= 10 {
			reg = append(reg, row)
		}
	}
	sort.Slice(reg, func(i, j int) bool { return reg[i].RatioP99 > reg[j].RatioP99 })
	c.Latency.Regressed = reg[:min(in.Top, len(reg))]

	// Errors.
	list := func(m map[[2]string]int64) []ErrorCount {
		var out []ErrorCount
		for k, n := range m {
			e := ErrorCount{SQLState: k[0], Fingerprint: k[1], Count: n}
			if id, err := fingerprint.ParseID(k[1]); err == nil && queries[id] != nil {
				e.Query = queries[id].text
			}
			out = append(out, e)
		}
		sort.Slice(out, func(i, j int) bool {
			return out[i].Count > out[j].Count || out[i].Count == out[j].Count && out[i].Fingerprint < out[j].Fingerprint
		})
		return out
	}
	c.Errors.New, c.Errors.Both = list(newErrs), list(bothErrs)
	if len(wanted) > 0 {
		if err := fillExamples(ctx, in.Workload, wanted); err != nil {
			return nil, err
		}
		for i := range c.Errors.New {
			e := &c.Errors.New[i]
			e.Example = examples[[2]string{e.SQLState, e.Fingerprint}]
		}
	}
	for _, e := range c.Errors.New {
		c.Errors.NewN += e.Count
	}
	c.Errors.Total = c.Errors.NewN
	for _, e := range c.Errors.Both {
		c.Errors.Total += e.Count
	}

	// Cluster metrics on the time-since-start axis.
	if err := c.addMetrics(ctx, in); err != nil {
		return nil, err
	}

	c.Judge(in.Gates)
	return c, nil
}

// Judge evaluates gates (the defaults when there are none) against the
// comparison and sets the verdict. Default gates on metrics no source
// provides are left out rather than made inconclusive; gates that were
// asked for are always kept.
func (c *Comparison) Judge(gates []Gate) {
	c.Gates, c.DefaultGates = nil, false
	if len(gates) == 0 {
		c.DefaultGates = true
		for _, expr := range DefaultGates {
			g, _ := ParseGate(expr)
			cand, _ := c.measure(g.Name)
			if cand == nil && c.metric(g.Name) == nil && !isReplayMeasure(g.Name) {
				continue
			}
			gates = append(gates, g)
		}
	}
	for _, g := range gates {
		cand, base := c.measure(g.Name)
		c.Gates = append(c.Gates, g.Evaluate(cand, base))
	}
	c.Verdict = Verdict{}
	c.decide()
}

// candidateDurations parses the candidate's logs and records the
// server-side duration of every statement of the workload's queries that
// ran in the replay window; statements of other clients (the sampler, the
// replay's own checks) do not match a workload query and are ignored.
func candidateDurations(ctx context.Context, in Input, queries map[fingerprint.ID]*qstat, from, to time.Time) (*hdrhistogram.Histogram, error) {
	all := newHist()
	opt := in.CandidateLogOptions
	opt.Uncompressed = true
	opt.Applications = append(append([]string(nil), opt.Applications...), "!"+pgsample.ApplicationName)
	// The log is parsed into a pipe and read as it comes: a production
	// hour's workload need not sit in memory. A damaged line or a log
	// without statements still leaves a valid workload; only a log that
	// cannot be read at all stops the compare.
	pr, pw := io.Pipe()
	var g errgroup.Group
	g.Go(func() error {
		// A summary means the workload was written, trailer included.
		sum, err := parse.Run(ctx, in.CandidateLogs, pw, opt)
		if sum != nil {
			err = nil
		}
		pw.CloseWithError(err)
		return nil
	})
	// Closing the pipe fails the parse's next write, which ends it.
	defer func() {
		pr.Close()
		g.Wait()
	}()
	fps := &fingerprint.Cache{}
	lo, hi := from.Add(-time.Second).UnixMicro(), to.Add(time.Second).UnixMicro()
	_, err := statements(ctx, "the candidate's log", pr, func(ev *parse.Event) bool {
		if ev.Duration < 0 || ev.Err != nil || ev.Time < lo || ev.Time > hi {
			return true
		}
		id, _ := fps.Lookup(ev.Text)
		if s := queries[id]; s != nil {
			if s.server == nil {
				s.server = newHist()
			}
			s.server.RecordValue(max(ev.Duration, 1))
			all.RecordValue(max(ev.Duration, 1))
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	return all, nil
}

// fillExamples reads the workload again for the statements wanted, by
// session and index, and fills in their text and parameters.
func fillExamples(ctx context.Context, path string, wanted map[[2]uint64]*Example) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("compare: %w", err)
	}
	defer f.Close()
	left := len(wanted)
	_, err = statements(ctx, "workload "+path, bufio.NewReaderSize(f, 256<<10), func(ev *parse.Event) bool {
		ex := wanted[[2]uint64{ev.Session.ID, uint64(ev.Index)}]
		if ex == nil {
			return true
		}
		// Values as production sent them, but never a password.
		ex.Text = fingerprint.MaskPasswords(ev.Text)
		for _, p := range ev.Params {
			if p.Null {
				ex.Params = append(ex.Params, "NULL")
			} else {
				ex.Params = append(ex.Params, "'"+strings.ReplaceAll(p.Value, "'", "''")+"'")
			}
		}
		left--
		return left > 0
	})
	return err
}

// spans are sessions' active spans: first statement start to last
// statement end, in µs.
type spans map[uint64][2]int64

func (sp spans) add(id uint64, from, to int64) {
	v, ok := sp[id]
	if !ok {
		sp[id] = [2]int64{from, to}
		return
	}
	sp[id] = [2]int64{min(v[0], from), max(v[1], to)}
}

// peak is the most spans open at one time.
func (sp spans) peak() int64 {
	type edge struct {
		t int64
		d int64
	}
	edges := make([]edge, 0, 2*len(sp))
	for _, v := range sp {
		edges = append(edges, edge{v[0], 1}, edge{v[1], -1})
	}
	// Ends before starts at the same instant: back-to-back is not overlap.
	sort.Slice(edges, func(i, j int) bool {
		return edges[i].t < edges[j].t || edges[i].t == edges[j].t && edges[i].d < edges[j].d
	})
	var n, best int64
	for _, e := range edges {
		n += e.d
		best = max(best, n)
	}
	return best
}

// statements streams the statements of a workload to each until it
// returns false, and returns the trailer: nil when the workload was cut
// off or each stopped early.
func statements(ctx context.Context, name string, src io.Reader, each func(*parse.Event) bool) (*parse.Summary, error) {
	r, err := parse.NewReader(src)
	if err != nil {
		return nil, fmt.Errorf("compare: %s: %w", name, err)
	}
	defer r.Close()
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		ev, err := r.Next()
		if errors.Is(err, io.EOF) {
			return r.Trailer(), nil
		}
		if err != nil {
			return nil, fmt.Errorf("compare: %s: %w", name, err)
		}
		if ev.Kind == parse.Statement && !each(ev) {
			return nil, nil
		}
	}
}

func isReplayMeasure(name string) bool {
	_, ok := GateNames[name]
	return ok && (strings.HasPrefix(name, "replay.") || strings.HasPrefix(name, "errors.") || strings.HasPrefix(name, "latency."))
}

func (c *Comparison) addMetrics(ctx context.Context, in Input) error {
	fetch := func(src metrics.Source, w metrics.Window, side string) *metrics.Set {
		if src == nil {
			return nil
		}
		set, err := src.Fetch(ctx, w)
		if err != nil {
			c.Warnings = append(c.Warnings, fmt.Sprintf("%s metrics (%s): %v", side, src, err))
			return nil
		}
		for _, w := range set.Warnings {
			c.Warnings = append(c.Warnings, side+": "+w)
		}
		return set
	}
	fid := &c.Fidelity
	base := fetch(in.Baseline, metrics.Window{Start: fid.CaptureStart, End: fid.CaptureEnd}, "baseline")
	cand := fetch(in.Candidate, metrics.Window{Start: fid.ReplayStart, End: fid.ReplayEnd}, "candidate")
	if base == nil && cand == nil {
		return nil
	}
	warm := in.Warmup
	if warm < 0 {
		warm = min(time.Minute, time.Duration(fid.OriginalS*float64(time.Second)/10))
	}
	for _, name := range []string{metrics.CPU, metrics.ReadIOPS, metrics.WriteIOPS, metrics.ReplicaLag, metrics.Commits, metrics.Connections, metrics.ReadLatency, metrics.WriteLatency, metrics.FreeableMemory} {
		var bs, cs *metrics.Series
		if base != nil {
			bs = base.Get(name)
		}
		if cand != nil {
			cs = cand.Get(name)
		}
		if bs == nil && cs == nil {
			continue
		}
		period := time.Duration(0)
		for _, s := range []*metrics.Series{bs, cs} {
			if s != nil {
				period = max(period, s.Period)
			}
		}
		m := Metric{Name: name, Unit: metrics.Units[name], WarmupS: warm.Seconds()}
		if bs != nil {
			a := metrics.Align(bs, fid.CaptureStart, period, 1, warm)
			st := metrics.Summarize(a.Points())
			m.BaselineSeries, m.BaselineSource, m.Caveats = &a, bs.Source, append(m.Caveats, a.Caveats...)
			if st.N > 0 {
				m.Baseline = &st
			}
		}
		if cs != nil {
			a := metrics.Align(cs, fid.ReplayStart, period, fid.Speed, warm)
			st := metrics.Summarize(a.Points())
			m.CandidateSeries, m.CandidateSource, m.Caveats = &a, cs.Source, append(m.Caveats, a.Caveats...)
			if st.N > 0 {
				m.Candidate = &st
			}
		}
		m.Caveats = dedupe(m.Caveats)
		c.Metrics = append(c.Metrics, m)
	}
	return nil
}

// dedupe drops repeated strings, keeping the first of each: both sides
// often carry the same caveat.
func dedupe(ss []string) []string {
	seen := map[string]bool{}
	out := ss[:0]
	for _, s := range ss {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

func (c *Comparison) metric(name string) *Metric {
	for i := range c.Metrics {
		if strings.HasPrefix(name, c.Metrics[i].Name+".") {
			return &c.Metrics[i]
		}
	}
	return nil
}

// measure returns the candidate's and the baseline's value of a gate's
// measure, nil where unknown.
func (c *Comparison) measure(name string) (cand, base *float64) {
	f := func(v float64) *float64 { return &v }
	fid := &c.Fidelity
	switch name {
	case "replay.lateness.p99":
		return f(fid.LatenessP99MS), nil
	case "replay.lateness.max":
		return f(fid.LatenessMaxMS), nil
	case "replay.late_share":
		return f(100 * fid.LateShare), nil
	case "replay.skipped":
		n := int64(0)
		for _, v := range fid.Skipped {
			n += v
		}
		return f(float64(n)), nil
	case "errors.new":
		return f(float64(c.Errors.NewN)), nil
	case "errors.total":
		return f(float64(c.Errors.Total)), nil
	case "latency.p50", "latency.p95", "latency.p99":
		get := func(p *Pcts) *float64 {
			if p == nil {
				return nil
			}
			switch name {
			case "latency.p50":
				return f(p.P50)
			case "latency.p95":
				return f(p.P95)
			}
			return f(p.P99)
		}
		return get(c.Latency.Candidate), get(c.Latency.Baseline)
	}
	m := c.metric(name)
	if m == nil {
		return nil, nil
	}
	stat := name[len(m.Name)+1:]
	get := func(st *metrics.Stats, a *metrics.Aligned) *float64 {
		if st == nil {
			return nil
		}
		switch stat {
		case "mean":
			return f(st.Mean)
		case "p95":
			return f(st.P95)
		case "p99":
			return f(metrics.Percentile(a.Points(), 99))
		case "max":
			return f(st.Max)
		}
		return nil
	}
	return get(m.Candidate, m.CandidateSeries), get(m.Baseline, m.BaselineSeries)
}

// decide sets the verdict: a failed gate is NO-GO; otherwise a replay
// that fell behind, or a gate that could not be evaluated, is
// INCONCLUSIVE; only then GO.
func (c *Comparison) decide() {
	v := &c.Verdict
	var failed []GateResult
	for _, g := range c.Gates {
		if g.Status == Fail {
			failed = append(failed, g)
		}
	}
	if len(failed) > 0 {
		g := failed[0]
		v.Result = NOGO
		v.Reason = fmt.Sprintf("gate %q failed: observed %s, threshold %s", g.Expr, fmtp(g.Observed), fmtp(g.Threshold))
		if len(failed) > 1 {
			v.Reason += fmt.Sprintf(" (and %d more failed gates)", len(failed)-1)
		}
		seen := map[string]bool{}
		for _, g := range failed {
			var next string
			switch {
			case g.Name == "errors.new" || g.Name == "errors.total":
				next = "look at the new errors: each is a statement that worked in production and fails on the candidate"
			case strings.HasPrefix(g.Name, "latency."):
				next = "look at the regressed queries, and EXPLAIN (ANALYZE, BUFFERS) them on both clusters"
			case strings.HasPrefix(g.Name, "replay.") && c.Fidelity.Bottleneck == "target":
				next = "statements started late because their session's previous statement was still running on the candidate: the candidate is slower than production under this load; see the regressed queries"
			case strings.HasPrefix(g.Name, "replay."):
				next = "the replayer could not keep to the schedule: see the replay fidelity section before trusting the other figures"
			default:
				next = "look at the " + g.Name[:strings.IndexByte(g.Name, '.')] + " chart: is it a sustained rise or a spike, and does it start after the warm-up?"
			}
			if !seen[next] {
				seen[next] = true
				v.Next = append(v.Next, next)
			}
		}
		return
	}
	if c.Fidelity.BehindSchedule {
		v.Result, v.Reason = INCONCLUSIVE, "the replay fell behind schedule, so the candidate did not carry the production load"
		v.Next = append(v.Next, c.Fidelity.Diagnosis...)
		return
	}
	if c.Fidelity.Interrupted {
		v.Result, v.Reason = INCONCLUSIVE, "the replay was interrupted before the end of the workload"
		v.Next = append(v.Next, "replay the whole workload")
		return
	}
	for _, g := range c.Gates {
		if g.Status == Inconclusive {
			v.Result, v.Reason = INCONCLUSIVE, fmt.Sprintf("gate %q could not be evaluated: %s", g.Expr, g.Note)
			v.Next = append(v.Next, g.Note)
			return
		}
	}
	if len(c.Gates) == 0 {
		v.Result, v.Reason = INCONCLUSIVE, "no gate could be evaluated"
		return
	}
	v.Result, v.Reason = GO, fmt.Sprintf("all %d gates passed", len(c.Gates))
}

type resultLine struct {
	S        uint64 `json:"s"`
	I        int    `json:"i"`
	StartUS  int64  `json:"start_us"`
	LatUS    int64  `json:"lat_us"`
	FP       string `json:"fp"`
	SQLState string `json:"sqlstate"`
	New      bool   `json:"new"`
	Skipped  string `json:"skipped"`
}

// readResults streams a results file, calling each for every statement
// line, and returns its header and trailer (nil when cut off).
func readResults(path string, each func(*resultLine), rtt *int64) (*replay.ResultsHeader, *replay.Summary, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	var h *replay.ResultsHeader
	var sum *replay.Summary
	line, bad := 0, 0
	for sc.Scan() {
		line++
		b := sc.Bytes()
		if bad > 0 {
			return nil, nil, fmt.Errorf("%s:%d: damaged line", path, bad)
		}
		if line == 1 {
			var v struct{ Header *replay.ResultsHeader }
			if json.Unmarshal(b, &v) != nil || v.Header == nil || v.Header.Format != "pgrehearse-results" {
				return nil, nil, fmt.Errorf("%s is not a results file (from pgrehearse replay)", path)
			}
			h = v.Header
			*rtt = h.RTTUS
			continue
		}
		if len(b) > 10 && string(b[:10]) == `{"summary"` {
			var v struct{ Summary *replay.Summary }
			if err := json.Unmarshal(b, &v); err != nil {
				return nil, nil, fmt.Errorf("%s:%d: damaged trailer: %w", path, line, err)
			}
			sum = v.Summary
			continue
		}
		var l resultLine
		if err := json.Unmarshal(b, &l); err != nil {
			bad = line // tolerated only as the half-written last line of a killed replay
			continue
		}
		each(&l)
	}
	if err := sc.Err(); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	if h == nil {
		return nil, nil, fmt.Errorf("%s is empty", path)
	}
	return h, sum, nil
}
