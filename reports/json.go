package reports

import (
	"encoding/json"
	"io"

	"github.com/pgrehearse/pgrehearse/compare"
)

// JSON writes the comparison document itself (docs/comparison-format.md),
// indented, so that `pgrehearse report` can render it again later.
func JSON(w io.Writer, c *compare.Comparison, _ Options) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(c)
}
