package reports

import (
	"bytes"
	"encoding/xml"
	"strings"
	"testing"

	"github.com/pgrehearse/pgrehearse/compare"
)

// TestJUnitWithoutGates: a comparison no gate could judge is one erring
// test case in JUnit, never a green suite of 0 tests.
func TestJUnitWithoutGates(t *testing.T) {
	c := &compare.Comparison{Format: "pgrehearse-comparison", Version: 1, Verdict: compare.Verdict{Result: compare.INCONCLUSIVE, Reason: "no gate could be evaluated"}}
	var b bytes.Buffer
	if err := JUnit(&b, c, Options{}); err != nil {
		t.Fatal(err)
	}
	var suite struct {
		Tests  int `xml:"tests,attr"`
		Errors int `xml:"errors,attr"`
	}
	if err := xml.Unmarshal(b.Bytes(), &suite); err != nil || suite.Tests != 1 || suite.Errors != 1 || !strings.Contains(b.String(), "no gate could be evaluated") {
		t.Errorf("%v %+v\n%s", err, suite, b.String())
	}
}

// TestNumbersWithoutExponent: big figures print in full.
func TestNumbersWithoutExponent(t *testing.T) {
	for in, want := range map[float64]string{96690: "96690", 12_345_678: "12345678", 3.14159: "3.14", 250.4: "250"} {
		if got := fnum(in); got != want {
			t.Errorf("fnum(%v) = %q, want %q", in, got, want)
		}
	}
}
