package reports

import (
	"fmt"
	"io"

	"github.com/olekukonko/tablewriter"

	"github.com/pgrehearse/pgrehearse/compare/metrics"
)

// metricSetLoad renders a set's load by wait event and statement and its
// per-query statistics, where the source has them.
func metricSetLoad(w io.Writer, set *metrics.Set) error {
	if ws := set.Waits; ws != nil {
		fmt.Fprintf(w, "load: %.2f AAS in all, from %s\n", ws.TotalAAS, ws.Source)
		t := tablewriter.NewWriter(w)
		t.Header("wait event", "type", "AAS")
		for _, l := range ws.Events {
			t.Append(l.Name, l.Type, fnum(l.AAS))
		}
		for _, l := range ws.SQL {
			t.Append(short(l.Name, 70), "statement", fnum(l.AAS))
		}
		if err := t.Render(); err != nil {
			return err
		}
		for _, c := range ws.Caveats {
			fmt.Fprintf(w, "note: load: %s\n", c)
		}
	}
	if st := set.Statements; st != nil {
		fmt.Fprintf(w, "statements: %d queries from %s\n", len(st.Rows), st.Source)
		t := tablewriter.NewWriter(w)
		t.Header("query", "calls", "exec ms", "blocks read", "blocks hit")
		for _, r := range st.Rows[:min(len(st.Rows), 10)] {
			t.Append(short(r.Query, 70), num(r.Calls), fnum(r.ExecMS), num(r.SharedBlksRead), num(r.SharedBlksHit))
		}
		if err := t.Render(); err != nil {
			return err
		}
		for _, c := range st.Caveats {
			fmt.Fprintf(w, "note: statements: %s\n", c)
		}
	}
	return nil
}
