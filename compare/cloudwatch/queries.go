package cloudwatch

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"github.com/pgrehearse/pgrehearse/compare/metrics"
)

// query is one metric to fetch and how to turn it into a series.
type query struct {
	metric    string
	namespace string
	name      string
	stat      string
	dims      []types.Dimension
	period    int32
	scale     float64 // multiply values by this (seconds → ms, per-period sum → per second)
	caveats   []string
	// combine, when set, names the series this query merges into with
	// max per timestamp (several replicas' lag).
	combine bool
	// zeroGaps: a period without a datapoint had none to publish (DB
	// load is only published when there is load), so it is 0.
	zeroGaps bool
}

func dim(name, value string) types.Dimension {
	return types.Dimension{Name: aws.String(name), Value: aws.String(value)}
}

// Period is the finest period CloudWatch still keeps for data as old as
// the window's start: 60 s up to 15 days, 300 s up to 63 days, 3600 s
// beyond.
func Period(start, now time.Time) int32 {
	switch age := now.Sub(start); {
	case age <= 15*24*time.Hour:
		return 60
	case age <= 63*24*time.Hour:
		return 300
	default:
		return 3600
	}
}

func (s *Source) queries(period int32) []query {
	var qs []query
	loadDims := []types.Dimension{dim("DBInstanceIdentifier", s.Instance)}
	if s.Cluster != "" {
		w := []types.Dimension{dim("DBClusterIdentifier", s.Cluster), dim("Role", "WRITER")}
		c := []types.Dimension{dim("DBClusterIdentifier", s.Cluster)}
		volPeriod := max(period, 300)
		vol := []string{fmt.Sprintf("Aurora cluster volume I/O, what Aurora bills: %d s sums shown per second, so short spikes are averaged away; not like-for-like with read_iops/write_iops", volPeriod)}
		qs = append(qs,
			query{metric: metrics.CPU, name: "CPUUtilization", stat: "Average", dims: w, scale: 1},
			query{metric: metrics.ReadIOPS, name: "ReadIOPS", stat: "Average", dims: w, scale: 1,
				caveats: []string{"the Aurora writer's reads from the cluster volume (ReadIOPS by Role=WRITER)"}},
			query{metric: metrics.WriteIOPS, name: "WriteIOPS", stat: "Average", dims: w, scale: 1,
				caveats: []string{"the Aurora writer's writes to the cluster volume: Aurora counts storage log records, not page writes"}},
			query{metric: metrics.VolumeReadIOPS, name: "VolumeReadIOPs", stat: "Sum", dims: c, period: volPeriod, scale: 1 / float64(volPeriod), caveats: vol},
			query{metric: metrics.VolumeWriteIOPS, name: "VolumeWriteIOPs", stat: "Sum", dims: c, period: volPeriod, scale: 1 / float64(volPeriod),
				caveats: append(append([]string{}, vol...), "Aurora write I/O counts storage log records, not page writes")},
			query{metric: metrics.ReplicaLag, name: "AuroraReplicaLagMaximum", stat: "Maximum", dims: w, scale: 1, caveats: []string{"AuroraReplicaLagMaximum on the writer: the worst Aurora replica, in ms"}},
			query{metric: metrics.Commits, name: "CommitThroughput", stat: "Average", dims: w, scale: 1},
		)
		loadDims = w
		if s.Writer != "" {
			loadDims = []types.Dimension{dim("DBInstanceIdentifier", s.Writer)}
		}
	} else {
		in := []types.Dimension{dim("DBInstanceIdentifier", s.Instance)}
		qs = append(qs,
			query{metric: metrics.CPU, name: "CPUUtilization", stat: "Average", dims: in, scale: 1},
			query{metric: metrics.ReadIOPS, name: "ReadIOPS", stat: "Average", dims: in, scale: 1},
			query{metric: metrics.WriteIOPS, name: "WriteIOPS", stat: "Average", dims: in, scale: 1},
		)
		for _, r := range s.Replicas {
			qs = append(qs, query{metric: metrics.ReplicaLag, name: "ReplicaLag", stat: "Maximum", dims: []types.Dimension{dim("DBInstanceIdentifier", r)},
				scale: 1000, combine: true, caveats: []string{"RDS ReplicaLag of the replicas (seconds, 1 s resolution), worst replica, in ms"}})
		}
	}
	common := qs[0].dims
	load := []string{"average active sessions, published by Performance Insights / Database Insights only while there is load: a period without a datapoint counts as 0"}
	qs = append(qs,
		query{metric: metrics.DBLoad, name: "DBLoad", stat: "Average", dims: loadDims, scale: 1, zeroGaps: true, caveats: load},
		query{metric: metrics.DBLoadCPU, name: "DBLoadCPU", stat: "Average", dims: loadDims, scale: 1, zeroGaps: true, caveats: load},
		query{metric: metrics.DBLoadNonCPU, name: "DBLoadNonCPU", stat: "Average", dims: loadDims, scale: 1, zeroGaps: true, caveats: load},
		query{metric: metrics.Connections, name: "DatabaseConnections", stat: "Average", dims: common, scale: 1},
		query{metric: metrics.ReadLatency, name: "ReadLatency", stat: "Average", dims: common, scale: 1000},
		query{metric: metrics.WriteLatency, name: "WriteLatency", stat: "Average", dims: common, scale: 1000},
		query{metric: metrics.FreeableMemory, name: "FreeableMemory", stat: "Average", dims: common, scale: 1},
	)
	for i := range qs {
		qs[i].namespace = "AWS/RDS"
		if qs[i].period == 0 {
			qs[i].period = period
		}
	}
	return qs
}

// maxQueries is GetMetricData's limit per request.
const maxQueries = 500

// getMetricData fetches every query's points: one request per period
// (all one-minute metrics in one, Aurora's five-minute volume I/O in
// another), each from the start of the period the window starts in to
// the end of the period it ends in, so that every period overlapping
// the window comes back whole; paged when CloudWatch pages.
func (s *Source) getMetricData(ctx context.Context, w metrics.Window, qs []query, set *metrics.Set) ([][]metrics.Point, error) {
	points := make([][]metrics.Point, len(qs))
	byPeriod := map[int32][]int{}
	var periods []int32
	for i, q := range qs {
		if byPeriod[q.period] == nil {
			periods = append(periods, q.period)
		}
		byPeriod[q.period] = append(byPeriod[q.period], i)
	}
	sort.Slice(periods, func(i, j int) bool { return periods[i] < periods[j] })
	for _, p := range periods {
		idx := byPeriod[p]
		step := time.Duration(p) * time.Second
		for lo := 0; lo < len(idx); lo += maxQueries {
			chunk := idx[lo:min(lo+maxQueries, len(idx))]
			in := &cloudwatch.GetMetricDataInput{
				StartTime: aws.Time(w.Start.Truncate(step)),
				EndTime:   aws.Time(ceil(w.End, step)),
				ScanBy:    types.ScanByTimestampAscending,
			}
			for _, i := range chunk {
				q := qs[i]
				in.MetricDataQueries = append(in.MetricDataQueries, types.MetricDataQuery{
					Id: aws.String(fmt.Sprintf("q%d", i)),
					MetricStat: &types.MetricStat{
						Metric: &types.Metric{Namespace: aws.String(q.namespace), MetricName: aws.String(q.name), Dimensions: q.dims},
						Period: aws.Int32(q.period),
						Stat:   aws.String(q.stat),
					},
					ReturnData: aws.Bool(true),
				})
			}
			if err := s.page(ctx, in, qs, chunk, points, set); err != nil {
				return nil, err
			}
		}
	}
	return points, nil
}

// page runs one GetMetricData request to its last page.
func (s *Source) page(ctx context.Context, in *cloudwatch.GetMetricDataInput, qs []query, chunk []int, points [][]metrics.Point, set *metrics.Set) error {
	asked := map[int]bool{}
	for _, i := range chunk {
		asked[i] = true
	}
	for {
		s.Calls++
		out, err := s.Client.GetMetricData(ctx, in)
		if err != nil {
			return s.explain(err)
		}
		for _, r := range out.MetricDataResults {
			var i int
			if _, err := fmt.Sscanf(aws.ToString(r.Id), "q%d", &i); err != nil || !asked[i] {
				continue
			}
			n := min(len(r.Timestamps), len(r.Values))
			for j := 0; j < n; j++ {
				points[i] = append(points[i], metrics.Point{T: r.Timestamps[j].UTC(), V: r.Values[j] * qs[i].scale})
			}
			if r.StatusCode == types.StatusCodeInternalError || r.StatusCode == types.StatusCodeForbidden {
				set.Warnings = append(set.Warnings, fmt.Sprintf("%s %s: CloudWatch says %s; the series may be incomplete", qs[i].name, dims(qs[i].dims), r.StatusCode))
			}
		}
		for _, m := range out.Messages {
			set.Warnings = append(set.Warnings, "CloudWatch: "+aws.ToString(m.Value))
		}
		if out.NextToken == nil {
			return nil
		}
		in.NextToken = out.NextToken
	}
}

// zeroFill puts a 0 at every period of the window that has no point.
func zeroFill(ps []metrics.Point, w metrics.Window, period time.Duration) []metrics.Point {
	have := map[int64]bool{}
	for _, p := range ps {
		have[p.T.UnixNano()] = true
	}
	out := append([]metrics.Point{}, ps...)
	for t := w.Start.Truncate(period); t.Before(w.End); t = t.Add(period) {
		if !have[t.UnixNano()] {
			out = append(out, metrics.Point{T: t.UTC(), V: 0})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].T.Before(out[j].T) })
	return out
}

func ceil(t time.Time, d time.Duration) time.Time {
	f := t.Truncate(d)
	if f.Equal(t) {
		return t
	}
	return f.Add(d)
}

func dims(ds []types.Dimension) string {
	var parts []string
	for _, d := range ds {
		parts = append(parts, aws.ToString(d.Name)+"="+aws.ToString(d.Value))
	}
	return strings.Join(parts, ",")
}

func dimValue(ds []types.Dimension) string {
	if len(ds) == 0 {
		return ""
	}
	return aws.ToString(ds[0].Value)
}

// mergeMax merges two ascending series, keeping the larger value where
// both have a point.
func mergeMax(a, b []metrics.Point) []metrics.Point {
	m := map[int64]float64{}
	for _, p := range append(append([]metrics.Point{}, a...), b...) {
		k := p.T.UnixNano()
		if v, ok := m[k]; !ok || p.V > v {
			m[k] = p.V
		}
	}
	out := make([]metrics.Point, 0, len(m))
	for k, v := range m {
		out = append(out, metrics.Point{T: time.Unix(0, k).UTC(), V: v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].T.Before(out[j].T) })
	return out
}
