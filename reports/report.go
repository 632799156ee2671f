package reports

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/pgrehearse/pgrehearse/compare"
)

// Options control how a comparison is rendered.
type Options struct {
	// ASCII draws tables with plain ASCII and marks gates with PASS/FAIL
	// instead of ✓/✗, for logs and terminals without UTF-8.
	ASCII bool
}

// Encoder renders a comparison document in one format.
type Encoder func(w io.Writer, c *compare.Comparison, o Options) error

// encoders are the comparison report formats by name.
var encoders = map[string]Encoder{
	"text":     Text,
	"markdown": Markdown,
	"json":     JSON,
	"junit":    JUnit,
	"html":     HTML,
}

// Formats lists the encoders' names, sorted, for help texts.
func Formats() string {
	var ns []string
	for n := range encoders {
		ns = append(ns, n)
	}
	sort.Strings(ns)
	return strings.Join(ns, ", ")
}

// Encode renders c in the named format.
func Encode(w io.Writer, format string, c *compare.Comparison, o Options) error {
	enc, ok := encoders[format]
	if !ok {
		return fmt.Errorf("unknown report format %q (known: %s)", format, Formats())
	}
	return enc(w, c, o)
}

// Known reports whether format names a report format.
func Known(format string) bool { _, ok := encoders[format]; return ok }
