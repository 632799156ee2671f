package reports

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/pgrehearse/pgrehearse/parse"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func fixedSummary() *parse.Summary {
	return &parse.Summary{
		Sessions: 38, Statements: 163397, Errors: 16, Entries: 237514,
		FirstUS: 1795349853131000, LastUS: 1795349883880000,
		StatementsByProtocol: map[string]int64{"simple": 60089, "extended": 44148, "prepared": 59160},
		WithParams:           73899, PeakSessions: 7, PeakStatementsPerSecond: 6842,
		ErrorsByClass:     map[string]int64{"22": 5, "42": 5, "25": 2, "23": 1, "3D": 1, "57": 1, "unknown": 1},
		SQLStatesInferred: true,
		NotReplayable:     map[string]int64{"copy_from_stdin": 5},
		Skipped:           map[string]int64{"background": 62, "not_a_session": 2, "failed_login": 1, "warning_notice": 1},
		TopDatabases:      []parse.NameCount{{Name: "bench", Count: 162918}, {Name: "app", Count: 472}},
		TopUsers:          []parse.NameCount{{Name: "bench_user", Count: 162918}, {Name: "app_user", Count: 466}},
		Complete:          true,
	}
}

func TestParseSummaryGolden(t *testing.T) {
	for _, tc := range []struct {
		name  string
		ascii bool
		edit  func(*parse.Summary)
	}{
		{"parsesummary-ascii.golden", true, nil},
		{"parsesummary-unicode.golden", false, nil},
		{"parsesummary-damaged.golden", true, func(s *parse.Summary) { s.Complete = false; s.Damage = "read x.gz: unexpected EOF" }},
	} {
		s := fixedSummary()
		if tc.edit != nil {
			tc.edit(s)
		}
		var buf bytes.Buffer
		if err := ParseSummary(&buf, s, tc.ascii); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join("testdata", tc.name)
		if *update {
			os.WriteFile(path, buf.Bytes(), 0o644)
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test ./reports -update and review the file)", err)
		}
		if !bytes.Equal(buf.Bytes(), want) {
			t.Errorf("%s differs:\n%s", tc.name, buf.String())
		}
	}
}

func TestNum(t *testing.T) {
	for in, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 163397: "163,397", -1234567: "-1,234,567"} {
		if got := num(in); got != want {
			t.Errorf("num(%d) = %q, want %q", in, got, want)
		}
	}
}
