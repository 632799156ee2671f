package reports

import (
	"bytes"
	"strings"
	"testing"
)

// TestCoverageNotes: what the results do not cover, the candidate's
// refused connections, interruptions and the protocol change of
// --unnamed are said in every report.
func TestCoverageNotes(t *testing.T) {
	c := fixture()
	f := &c.Fidelity
	f.ResultStatements = 971
	f.Statements = 972
	f.Incomplete = []string{"shard 1/2 is missing: the sessions of that shard were not compared"}
	f.RefusedConnections, f.TargetMaxConnections, f.PeakSessions = 1900, 100, 2000
	f.InterruptedStatements = 3
	f.Unnamed = 26000
	for _, format := range []string{"text", "markdown", "html"} {
		var b bytes.Buffer
		if err := Encode(&b, format, c, Options{ASCII: true}); err != nil {
			t.Fatal(err)
		}
		out := b.String()
		for _, want := range []string{
			"Not covered: shard 1/2 is missing",
			"The results hold 971 of the workload&#39;s 972 statements",
			"= 100) refused 1,900 sessions with 53300",
			"3 statements were cut short by the end of the replay",
			"Protocol change: 26,000 named prepared statements were sent unnamed",
		} {
			if format != "html" {
				want = strings.ReplaceAll(want, "&#39;", "'")
			}
			if !strings.Contains(out, want) {
				t.Errorf("%s report lacks %q", format, want)
			}
		}
	}
}
