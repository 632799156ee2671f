package drivers

import (
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/pgrehearse/pgrehearse/parse"
)

// Kind is what a finding is about.
type Kind uint8

// The kinds of findings, in the order a diff lists them.
const (
	SessionNotReplayed Kind = iota + 1 // a capture session with no target session
	ExtraSession                       // a target session with no capture session
	MissingStatement                   // production ran it, the target did not
	ExtraStatement                     // the target ran it, production did not
	TextMismatch                       // the target ran another text in its place
	ProtocolMismatch                   // simple / unnamed / named differ
	NameMismatch                       // another prepared statement name
	ParamMismatch                      // other parameter values
	ErrorNotReproduced                 // a production error the target did not raise (or raised with another SQLSTATE)
	NewError                           // an error production did not have
	PreparedAgain                      // a named statement prepared more than once in a session
	GroupingMismatch                   // sent in one implicit transaction with the one before on one side only
)

var kindNames = map[Kind]string{
	SessionNotReplayed: "sessions not replayed",
	ExtraSession:       "extra sessions on the target",
	MissingStatement:   "missing statements",
	ExtraStatement:     "extra statements",
	TextMismatch:       "text mismatches",
	ProtocolMismatch:   "protocol mismatches",
	NameMismatch:       "statement name mismatches",
	ParamMismatch:      "parameter mismatches",
	ErrorNotReproduced: "production errors not reproduced",
	NewError:           "new errors",
	GroupingMismatch:   "transaction grouping mismatches (one Sync for several on one side only)",
	PreparedAgain:      "named statements prepared more than once per session",
}

func (k Kind) String() string {
	if s, ok := kindNames[k]; ok {
		return s
	}
	return fmt.Sprintf("kind %d", k)
}

// Finding is one difference between the capture and the target.
type Finding struct {
	Kind Kind
	// Session names the capture session: application, user@database and
	// its rank among the sessions with those.
	Session string
	// CaptureIndex and TargetIndex are the item positions in the two
	// sessions (statements and bare errors), -1 when absent.
	CaptureIndex, TargetIndex int
	// CaptureLine and TargetLine are the log lines, 0 when absent.
	CaptureLine, TargetLine int64
	// Capture and Target say what each side had.
	Capture, Target string
}

// Diff is the result of a comparison.
type Diff struct {
	CaptureSessions, TargetSessions     int
	CaptureStatements, TargetStatements int
	// ProductionErrors counts the capture's errors; Reproduced those the
	// target raised on the same statement with the same SQLSTATE, StandIns
	// those of them raised by the replayer's stand-in.
	ProductionErrors, Reproduced, StandIns int
	Findings                               []Finding
}

func (d *Diff) add(f Finding) { d.Findings = append(d.Findings, f) }

func (d *Diff) sort() {
	sort.SliceStable(d.Findings, func(i, j int) bool { return d.Findings[i].Kind < d.Findings[j].Kind })
}

// Of returns the findings of the given kinds.
func (d *Diff) Of(kinds ...Kind) []Finding {
	var out []Finding
	for _, f := range d.Findings {
		for _, k := range kinds {
			if f.Kind == k {
				out = append(out, f)
				break
			}
		}
	}
	return out
}

// Count returns how many findings there are of the given kinds.
func (d *Diff) Count(kinds ...Kind) int { return len(d.Of(kinds...)) }

// Empty reports whether the target did exactly what production did.
func (d *Diff) Empty() bool { return len(d.Findings) == 0 }

// Summary is one line of figures.
func (d *Diff) Summary() string {
	return fmt.Sprintf("%s in %s captured, %d in %s on the target; production errors %d: %d reproduced (%d by a stand-in), %d not; %s",
		plural(d.CaptureStatements, "statement"), plural(d.CaptureSessions, "session"), d.TargetStatements, plural(d.TargetSessions, "session"),
		d.ProductionErrors, d.Reproduced, d.StandIns, d.Count(ErrorNotReproduced), plural(d.Count(NewError), "new error"))
}

// maxShown is how many findings of a kind Format lists.
const maxShown = 12

// Format lists the findings of the given kinds (all when none are given),
// a few of each kind; "" when there are none.
func (d *Diff) Format(kinds ...Kind) string {
	if len(kinds) == 0 {
		for k := SessionNotReplayed; k <= GroupingMismatch; k++ {
			kinds = append(kinds, k)
		}
	}
	var b strings.Builder
	for _, k := range kinds {
		fs := d.Of(k)
		if len(fs) == 0 {
			continue
		}
		fmt.Fprintf(&b, "%s (%d):\n", k, len(fs))
		for i, f := range fs {
			if i == maxShown {
				fmt.Fprintf(&b, "  ... and %d more\n", len(fs)-maxShown)
				break
			}
			b.WriteString("  " + f.String() + "\n")
		}
	}
	return b.String()
}

// String is the summary and every kind of finding.
func (d *Diff) String() string {
	s := d.Summary() + "\n"
	if f := d.Format(); f != "" {
		s += f
	} else {
		s += "no differences\n"
	}
	return s
}

// String is one line: where, then what each side had.
func (f Finding) String() string {
	var where []string
	if f.CaptureIndex >= 0 {
		where = append(where, fmt.Sprintf("capture #%d line %d", f.CaptureIndex, f.CaptureLine))
	}
	if f.TargetIndex >= 0 {
		where = append(where, fmt.Sprintf("target #%d line %d", f.TargetIndex, f.TargetLine))
	}
	loc := f.Session
	if len(where) > 0 {
		loc += " [" + strings.Join(where, ", ") + "]"
	}
	return fmt.Sprintf("%s: capture: %s | target: %s", loc, orDash(f.Capture), orDash(f.Target))
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// describe is a statement in a few words: protocol (and name), text,
// parameters, error.
func describe(it Item) string {
	s := it.Protocol.String()
	if it.Protocol == parse.Named {
		s += " " + it.Name
	}
	s += ": " + clip(it.Text)
	if len(it.Params) > 0 {
		s += " " + formatParams(it.Params)
	}
	if it.Err != nil {
		s += " -> " + it.Err.SQLState
	}
	return s
}

func describeError(it Item) string {
	e := it.Err
	if e == nil {
		return "no error"
	}
	where := "at"
	if it.Error {
		where = "of no executed statement (Parse/Bind) at"
	}
	return fmt.Sprintf("%s %s %q %s %s", e.SQLState, e.Severity, clip(e.Message), where, clip(it.Text))
}

func formatParams(ps []parse.Param) string {
	parts := make([]string, len(ps))
	for i, p := range ps {
		if p.Null {
			parts[i] = fmt.Sprintf("$%d=NULL", i+1)
		} else {
			parts[i] = fmt.Sprintf("$%d='%s'", i+1, clipN(p.Value, 40))
		}
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

func clip(s string) string { return clipN(s, 100) }

func clipN(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
