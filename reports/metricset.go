package reports

import (
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/olekukonko/tablewriter"

	"github.com/pgrehearse/pgrehearse/compare/metrics"
)

// MetricSet renders one source's series for a window as a table, with its
// warnings under it.
func MetricSet(w io.Writer, set *metrics.Set) error {
	fmt.Fprintf(w, "%s, %s – %s\n", set.Source, set.Window.Start.UTC().Format(time.RFC3339), set.Window.End.UTC().Format(time.RFC3339))
	t := tablewriter.NewWriter(w)
	t.Header("metric", "unit", "period", "points", "mean", "p95", "max", "source")
	for _, s := range set.Series {
		st := metrics.Summarize(s.Points)
		t.Append(s.Metric, s.Unit, s.Period.String(), strconv.Itoa(st.N), fnum(st.Mean), fnum(st.P95), fnum(st.Max), s.Source)
	}
	if err := t.Render(); err != nil {
		return err
	}
	for _, s := range set.Series {
		for _, c := range s.Caveats {
			fmt.Fprintf(w, "note: %s: %s\n", s.Metric, c)
		}
	}
	if err := metricSetLoad(w, set); err != nil {
		return err
	}
	for _, warn := range set.Warnings {
		fmt.Fprintf(w, "warning: %s\n", warn)
	}
	return nil
}

func fnum(v float64) string {
	switch {
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	default:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
}
