package reports

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"

	"github.com/pgrehearse/pgrehearse/compare"
)

// JUnit writes one test case per gate, so CI systems show gates like
// tests: a failed gate is a failure, an inconclusive one an error (it
// could not be evaluated), and the verdict is the suite's name.
func JUnit(w io.Writer, c *compare.Comparison, _ Options) error {
	type failure struct {
		Message string `xml:"message,attr"`
		Type    string `xml:"type,attr"`
		Text    string `xml:",chardata"`
	}
	type testcase struct {
		Name      string   `xml:"name,attr"`
		Classname string   `xml:"classname,attr"`
		Failure   *failure `xml:"failure,omitempty"`
		Error     *failure `xml:"error,omitempty"`
		SystemOut string   `xml:"system-out,omitempty"`
	}
	type suite struct {
		XMLName  struct{}   `xml:"testsuite"`
		Name     string     `xml:"name,attr"`
		Tests    int        `xml:"tests,attr"`
		Failures int        `xml:"failures,attr"`
		Errors   int        `xml:"errors,attr"`
		Time     string     `xml:"timestamp,attr,omitempty"`
		Cases    []testcase `xml:"testcase"`
	}
	s := suite{Name: "pgrehearse gates: " + string(c.Verdict.Result), Tests: len(c.Gates), Time: c.Generated}
	for _, g := range c.Gates {
		tc := testcase{Name: g.Expr, Classname: "pgrehearse.gates." + strings.SplitN(g.Name, ".", 2)[0],
			SystemOut: fmt.Sprintf("observed %s, threshold %s", opt(g.Observed), opt(g.Threshold))}
		switch g.Status {
		case compare.Fail:
			s.Failures++
			tc.Failure = &failure{Type: "gate", Message: fmt.Sprintf("observed %s, threshold %s", opt(g.Observed), opt(g.Threshold)),
				Text: fmt.Sprintf("%s: %s", g.Expr, compare.MeasureHelp(g.Name))}
		case compare.Inconclusive:
			s.Errors++
			tc.Error = &failure{Type: "inconclusive", Message: g.Note}
		}
		s.Cases = append(s.Cases, tc)
	}
	if len(c.Gates) == 0 {
		// No gate could be judged: CI must not see a green suite of 0 tests.
		s.Tests, s.Errors = 1, 1
		s.Cases = append(s.Cases, testcase{Name: "verdict", Classname: "pgrehearse.verdict",
			Error: &failure{Type: "inconclusive", Message: string(c.Verdict.Result) + ": " + c.Verdict.Reason}})
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(s); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}
