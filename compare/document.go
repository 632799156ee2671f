package compare

import (
	"encoding/json"
	"errors"
	"fmt"
)

// ErrNotComparison is wrapped by ReadComparison's errors: the bytes are
// not a whole comparison document.
var ErrNotComparison = errors.New("not a comparison document")

// ReadComparison decodes a comparison document written by compare and
// checks that it is whole: a known verdict, every gate with its
// expression and a known status, and a verdict the gates bear out. A
// document cut short or edited by hand is refused, so that no report
// (JUnit with 0 tests, a GO without gates) is rendered from it.
func ReadComparison(raw []byte) (*Comparison, error) {
	var c Comparison
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotComparison, err)
	}
	if c.Format != "pgrehearse-comparison" {
		return nil, fmt.Errorf("%w: no \"format\": \"pgrehearse-comparison\"", ErrNotComparison)
	}
	if c.Version > FormatVersion {
		return nil, fmt.Errorf("%w: comparison format %d; this pgrehearse reads up to %d: upgrade it", ErrNotComparison, c.Version, FormatVersion)
	}
	if err := c.check(); err != nil {
		return nil, fmt.Errorf("%w: damaged: %v", ErrNotComparison, err)
	}
	return &c, nil
}

func (c *Comparison) check() error {
	if c.Generated == "" {
		return errors.New(`no "generated" time`)
	}
	counts := map[GateStatus]int{}
	for i, g := range c.Gates {
		switch {
		case g.Expr == "" || g.Name == "":
			return fmt.Errorf("gate %d has no expression", i+1)
		case g.Status != Pass && g.Status != Fail && g.Status != Inconclusive:
			return fmt.Errorf("gate %q has status %q", g.Expr, g.Status)
		}
		counts[g.Status]++
	}
	switch c.Verdict.Result {
	case GO:
		if len(c.Gates) == 0 || counts[Pass] != len(c.Gates) {
			return fmt.Errorf("verdict GO, but %d of %d gates passed", counts[Pass], len(c.Gates))
		}
	case NOGO:
		if counts[Fail] == 0 {
			return errors.New("verdict NO-GO, but no gate failed")
		}
	case INCONCLUSIVE:
	case "":
		return errors.New("no verdict")
	default:
		return fmt.Errorf("unknown verdict %q", c.Verdict.Result)
	}
	return nil
}
