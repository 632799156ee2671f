package reports

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/pgrehearse/pgrehearse/compare"
)

// TestWaitsInEveryFormat: the wait events side by side, what they mean
// on Aurora, and the per-query server figures reach text, Markdown,
// HTML and JSON; JUnit, one case per gate, is unchanged by them.
func TestWaitsInEveryFormat(t *testing.T) {
	render := func(format string) string {
		var b bytes.Buffer
		if err := Encode(&b, format, fixture(), Options{}); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	for _, format := range []string{"text", "markdown", "html"} {
		s := render(format)
		for _, want := range []string{"Database load by wait event", "IO:XactSync", "storage quorum", "0.90", "+0.30", "Server-side work per query", "1.25x"} {
			if format == "html" {
				want = strings.ReplaceAll(want, "+", "&#43;")
			}
			if !strings.Contains(s, want) {
				t.Errorf("%s: no %q", format, want)
			}
		}
		// After the cluster metrics, before the latency.
		if i, j, k := strings.Index(s, "Cluster metrics"), strings.Index(s, "Database load by wait event"), strings.Index(s, "Query latency"); !(i < j && j < k) {
			t.Errorf("%s: sections out of order: %d %d %d", format, i, j, k)
		}
	}
	var back compare.Comparison
	if err := json.Unmarshal([]byte(render("json")), &back); err != nil || back.Waits == nil || len(back.Waits.Events) != 4 ||
		back.Waits.Events[1].Note == "" || back.ServerQueries == nil || back.ServerQueries.Rows[0].RatioMean != 1.25 {
		t.Errorf("json: %v %+v", err, back.Waits)
	}
	if j := render("junit"); strings.Contains(j, "XactSync") || strings.Contains(j, "pg_stat_statements") {
		t.Errorf("junit carries the load sections:\n%s", j)
	}
	// A document without them renders without the sections.
	c := fixture()
	c.Waits, c.ServerQueries = nil, nil
	var b bytes.Buffer
	Text(&b, c, Options{})
	if strings.Contains(b.String(), "wait event") {
		t.Error("an empty load section")
	}
}
