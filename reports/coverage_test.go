package reports

import (
	"bytes"
	"strings"
	"testing"

	"github.com/pgrehearse/pgrehearse/compare"
)

// TestCoverageNotes: what the results do not cover, the candidate's
// refused connections, a lost target and the statements lost to it,
// interruptions and the protocol change of --unnamed are said in every
// report.
func TestCoverageNotes(t *testing.T) {
	c := fixture()
	f := &c.Fidelity
	f.ResultStatements = 971
	f.Statements = 972
	f.Incomplete = []string{"shard 1/2 is missing: the sessions of that shard were not compared"}
	f.RefusedConnections, f.TargetMaxConnections, f.PeakSessions = 1900, 100, 2000
	f.InterruptedStatements = 3
	f.Unnamed = 26000
	f.TargetUnreachableSince, f.LostToOutage = "2026-12-02T05:23:08.006738309Z", 85
	c.Errors.LostToOutage = []compare.ErrorCount{{SQLState: "57P01", Fingerprint: "199e7dca63ea8858", Query: "SELECT ?", Count: 85}}
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
			"3 statements were cut short by the end of the replay (stopped when the target was lost)",
			"Lost to the outage: the target stayed unreachable since 2026-12-02T05:23:08Z; 85 statements failed for want of a connection after their session&#39;s last answer from it",
			"85 statements failed for want of a connection after the target was lost: the outage&#39;s, not the candidate&#39;s",
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
