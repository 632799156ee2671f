package reports

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/tw"

	"github.com/pgrehearse/pgrehearse/parse"
)

// newTable returns a two-column-or-more table; ascii picks plain ASCII
// borders for output that is not a terminal (logs, CI).
func newTable(w io.Writer, ascii bool, header ...string) *tablewriter.Table {
	opts := []tablewriter.Option{
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithRowAutoWrap(tw.WrapNone),
	}
	if ascii {
		opts = append(opts, tablewriter.WithRendition(tw.Rendition{Symbols: tw.NewSymbols(tw.StyleASCII)}))
	}
	t := tablewriter.NewTable(w, opts...)
	if len(header) > 0 {
		t.Header(toAny(header)...)
	}
	return t
}

func toAny(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

// ParseSummary writes the end-of-parse summary: capture window, sessions,
// statements by protocol, errors by SQLSTATE class, what was skipped and
// why, peaks, and the busiest databases and users.
func ParseSummary(w io.Writer, s *parse.Summary, ascii bool) error {
	first, last := s.Window()
	window := "(no statements)"
	if !first.IsZero() {
		window = fmt.Sprintf("%s → %s (%s)", first.Format("2006-01-02 15:04:05.000 MST"), last.Format("15:04:05.000 MST"), last.Sub(first).Round(1e6))
		if ascii {
			window = strings.Replace(window, "→", "->", 1)
		}
	}
	t := newTable(w, ascii, "parse summary", "")
	rows := [][]string{
		{"capture window", window},
		{"log entries read", num(s.Entries)},
		{"sessions", num(s.Sessions)},
		{"statements", fmt.Sprintf("%s (simple %s, extended %s, prepared %s)", num(s.Statements),
			num(s.StatementsByProtocol["simple"]), num(s.StatementsByProtocol["extended"]), num(s.StatementsByProtocol["prepared"]))},
		{"  with parameters", num(s.WithParams)},
		{"  with server duration", num(s.WithDuration)},
		{"  pipelined (one Sync for several)", pipelinedLine(s)},
		{"peak concurrent sessions", num(s.PeakSessions)},
		{"peak statements/s", num(s.PeakStatementsPerSecond)},
		{"errors", errorsLine(s)},
		{"not replayable", countsLine(s.NotReplayable)},
		{"skipped entries", countsLine(s.Skipped)},
		{"top databases", namesLine(s.TopDatabases)},
		{"top users", namesLine(s.TopUsers)},
	}
	rows = append(rows, damageRows(s)...)
	if s.SQLStatesInferred {
		rows = append(rows, []string{"  SQLSTATEs", "inferred from English messages (add %e to log_line_prefix)"})
	}
	if !s.Complete {
		state := "incomplete"
		if s.Interrupted {
			state = "interrupted: the workload holds what was read until then"
		}
		if s.Damage != "" {
			state = "input damaged: the workload holds what was read before the damage"
		}
		rows = append(rows, []string{"status", state})
	}
	if err := t.Bulk(rows); err != nil {
		return err
	}
	return t.Render()
}

// damageRows name each file with lines of no format (with their share of
// the file) or a cut last line.
func damageRows(s *parse.Summary) [][]string {
	var rows [][]string
	for _, f := range s.Files {
		if total := f.Entries + f.Unreadable; f.Unreadable > 0 {
			rows = append(rows, []string{"  unreadable lines", fmt.Sprintf("%s of %s (%.1f %%) in %s match no format",
				num(f.Unreadable), num(total), 100*float64(f.Unreadable)/float64(total), f.Path)})
		}
		if f.CutLastLine {
			rows = append(rows, []string{"  cut off", f.Path + " ends in the middle of a line: its last entry was left out"})
		}
	}
	return rows
}

func errorsLine(s *parse.Summary) string {
	if s.Errors == 0 {
		return "0"
	}
	return num(s.Errors) + " by SQLSTATE class: " + countsLine(s.ErrorsByClass)
}

func countsLine(m map[string]int64) string {
	keys := make([]string, 0, len(m))
	for k, v := range m {
		if v > 0 {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return "none"
	}
	sort.Slice(keys, func(i, j int) bool {
		if m[keys[i]] != m[keys[j]] {
			return m[keys[i]] > m[keys[j]]
		}
		return keys[i] < keys[j]
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + " " + num(m[k])
	}
	return strings.Join(parts, ", ")
}

func namesLine(n []parse.NameCount) string {
	if len(n) == 0 {
		return "none"
	}
	parts := make([]string, len(n))
	for i, x := range n {
		parts[i] = x.Name + " " + num(x.Count)
	}
	return strings.Join(parts, ", ")
}

// num formats n with thousands separators.
func num(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// pipelinedLine says how many statements production pipelined, and how
// many the log can not tell about.
func pipelinedLine(s *parse.Summary) string {
	if s.GroupingUnknown == 0 {
		return num(s.Pipelined)
	}
	return fmt.Sprintf("%s; %s extended statements may have been (add %%v to log_line_prefix to tell)", num(s.Pipelined), num(s.GroupingUnknown))
}
