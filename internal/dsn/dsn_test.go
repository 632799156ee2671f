package dsn

import (
	"strings"
	"testing"
)

func TestNoPassword(t *testing.T) {
	for _, s := range []string{
		"host=db.example.com port=5433 user=app password=hunter2 dbname=shop",
		"postgres://app:hunter2@db.example.com:5433/shop?sslmode=disable",
	} {
		got := Redact(s)
		if strings.Contains(got, "hunter2") || !strings.Contains(got, "host=db.example.com port=5433 user=app database=shop") {
			t.Errorf("Redact(%q) = %q", s, got)
		}
	}
	if got := Redact("samples.jsonl"); got != "samples.jsonl" {
		t.Errorf("a file name came back as %q", got)
	}
}
