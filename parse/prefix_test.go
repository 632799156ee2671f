package parse

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestPrefixAloneMeansStderr: --log-line-prefix is enough; --format
// stderr is not needed with it (a prefix only means something for stderr
// logs), and a prefix detection could not guess works.
func TestPrefixAloneMeansStderr(t *testing.T) {
	log := "billing-api 2026-11-22 12:00:00.000 UTC 6b02dd5d.41da LOG:  connection authorized: user=u database=d\n" +
		"billing-api 2026-11-22 12:00:00.001 UTC 6b02dd5d.41da LOG:  statement: SELECT 1\n" +
		"billing-api 2026-11-22 12:00:00.002 UTC 6b02dd5d.41da LOG:  statement: SELECT 2\n"
	if _, err := Run(context.Background(), []string{"-"}, &bytes.Buffer{}, Options{Stdin: strings.NewReader(log)}); err == nil {
		t.Fatal("the prefix was detected without help: the test tests nothing")
	}
	sum, err := Run(context.Background(), []string{"-"}, &bytes.Buffer{}, Options{Stdin: strings.NewReader(log), Prefix: "%a %m %c "})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Statements != 2 || sum.Files[0].Format != "stderr" {
		t.Errorf("%d statements read as %s, want 2 as stderr", sum.Statements, sum.Files[0].Format)
	}
}
