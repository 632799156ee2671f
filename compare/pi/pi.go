// Package pi reads Performance Insights: the database load of an RDS or
// Aurora instance (db.load.avg, average active sessions) grouped by wait
// event and by statement, for one window. compare/cloudwatch uses it so
// that the comparison can show where each cluster's load went, side by
// side: the baseline over the capture window, the candidate over the
// replay window.
package pi

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	smithy "github.com/aws/smithy-go"

	"github.com/pgrehearse/pgrehearse/compare/metrics"
)

// API is the part of the Performance Insights client the reader uses.
type API interface {
	GetResourceMetrics(ctx context.Context, in *GetResourceMetricsInput) (*GetResourceMetricsOutput, error)
}

// Dimension names of the groups read.
const (
	WaitEvent     = "db.wait_event.name"
	WaitEventType = "db.wait_event.type"
	SQLID         = "db.sql_tokenized.id"
	SQLStatement  = "db.sql_tokenized.statement"
)

// Top is how many wait events and statements are read per window.
const Top = 10

// Reader reads one instance's Performance Insights.
type Reader struct {
	Client API
	// ResourceID is the instance's DbiResourceId; Instance its
	// identifier and Engine its engine, for the report.
	ResourceID, Instance, Engine string
	// Calls counts GetResourceMetrics requests.
	Calls int
}

// Period is the resolution read for a window: one second for short
// windows, coarser for long ones, so that an answer stays small.
func Period(w metrics.Window) time.Duration {
	switch d := w.Duration(); {
	case d <= 10*time.Minute:
		return time.Second
	case d <= 24*time.Hour:
		return time.Minute
	case d <= 7*24*time.Hour:
		return 5 * time.Minute
	default:
		return time.Hour
	}
}

// Fetch reads the window's load by wait event and by statement in one
// request (paged when the service pages): the whole load and the Top
// largest of each group, as averages over the window. A period without
// a datapoint had no load.
func (r *Reader) Fetch(ctx context.Context, w metrics.Window) (*metrics.Waits, error) {
	period := Period(w)
	in := &GetResourceMetricsInput{
		ServiceType: "RDS",
		Identifier:  r.ResourceID,
		MetricQueries: []MetricQuery{
			{Metric: "db.load.avg", GroupBy: &DimensionGroup{Group: "db.wait_event", Dimensions: []string{WaitEvent, WaitEventType}, Limit: Top}},
			{Metric: "db.load.avg", GroupBy: &DimensionGroup{Group: "db.sql_tokenized", Dimensions: []string{SQLID, SQLStatement}, Limit: Top}},
		},
		StartTime:       w.Start.Truncate(period),
		EndTime:         ceil(w.End, period),
		PeriodInSeconds: int32(period / time.Second),
		PeriodAlignment: "START_TIME",
		MaxResults:      25,
	}
	out := &metrics.Waits{Engine: r.Engine, Period: period,
		Source: fmt.Sprintf("performance insights %s (%s) db.load.avg at %s", r.ResourceID, r.Instance, period)}
	total, gotTotal := 0.0, false
	for {
		r.Calls++
		resp, err := r.Client.GetResourceMetrics(ctx, in)
		if err != nil {
			return nil, r.explain(err)
		}
		for _, m := range resp.MetricList {
			aas := average(m.DataPoints, period, w)
			d := m.Key.Dimensions
			switch {
			case d[WaitEvent] != "":
				out.Events = append(out.Events, metrics.Load{Name: d[WaitEvent], Type: d[WaitEventType], AAS: aas})
			case d[SQLStatement] != "" || d[SQLID] != "":
				out.SQL = append(out.SQL, metrics.Load{Name: d[SQLStatement], ID: d[SQLID], AAS: aas})
			case len(d) == 0 && !gotTotal:
				// Each grouped query repeats the ungrouped total.
				total, gotTotal = aas, true
			}
		}
		if resp.NextToken == "" || resp.NextToken == in.NextToken {
			break
		}
		in.NextToken = resp.NextToken
	}
	out.TotalAAS = total
	for _, ls := range [][]metrics.Load{out.Events, out.SQL} {
		sort.SliceStable(ls, func(i, j int) bool { return ls[i].AAS > ls[j].AAS })
	}
	if !gotTotal && len(out.Events) == 0 {
		out.Caveats = append(out.Caveats, "Performance Insights returned no load for the window: the instance was idle, or Performance Insights was off then")
	}
	if len(out.SQL) > 0 {
		out.Caveats = append(out.Caveats, "statements as Performance Insights tokenizes them, cut at 500 bytes")
	}
	return out, nil
}

// average is the mean load over w of points each covering period from
// its timestamp; the window's time without a point counts as no load.
func average(ps []DataPoint, period time.Duration, w metrics.Window) float64 {
	if w.Duration() <= 0 {
		return 0
	}
	sum := 0.0
	for _, p := range ps {
		if p.Value == nil {
			continue
		}
		lo, hi := p.Timestamp, p.Timestamp.Add(period)
		if lo.Before(w.Start) {
			lo = w.Start
		}
		if hi.After(w.End) {
			hi = w.End
		}
		if hi.After(lo) {
			sum += *p.Value * hi.Sub(lo).Seconds()
		}
	}
	return sum / w.Duration().Seconds()
}

func ceil(t time.Time, d time.Duration) time.Time {
	if f := t.Truncate(d); f.Equal(t) {
		return t
	} else {
		return f.Add(d)
	}
}

// explain says what a Performance Insights error means.
func (r *Reader) explain(err error) error {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch code := ae.ErrorCode(); {
		case code == "NotAuthorizedException" || strings.Contains(code, "AccessDenied"):
			return fmt.Errorf("performance insights of %s: permission denied: the AWS identity in use needs pi:GetResourceMetrics on %s: %w", r.Instance, r.ResourceID, err)
		case code == "InvalidArgumentException":
			return fmt.Errorf("performance insights of %s refused the request: %s (it keeps 7 days unless its retention was raised, and needs Performance Insights or Database Insights on)", r.Instance, ae.ErrorMessage())
		}
	}
	return fmt.Errorf("performance insights of %s: %w", r.Instance, err)
}
