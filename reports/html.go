package reports

import (
	"errors"
	"io"

	"github.com/pgrehearse/pgrehearse/compare"
)

// HTML renders c as one self-contained HTML page.
func HTML(w io.Writer, c *compare.Comparison, o Options) error {
	return errors.New("the html report is not written yet")
}
