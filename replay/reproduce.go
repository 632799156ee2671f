package replay

import (
	"fmt"
	"strings"

	"github.com/pgrehearse/pgrehearse/parse"
)

// How a production error that the log attributes to no executed statement
// (an Error event: a statement that failed at Parse or Bind) is raised
// again on the target, at its place in the session, so that the same
// error and the same transaction state follow.
type reproduction uint8

const (
	// reproSimple sends the text as a simple query: a statement without
	// parameters, whether production sent it simple or extended, fails
	// (or not) alike, and the raw parser's errors come only this way.
	reproSimple reproduction = iota + 1
	// reproParse prepares the text unnamed: the error was raised while
	// parsing it.
	reproParse
	// reproBind sends it with the values the error's context listed.
	reproBind
	// reproParseThenStandIn prepares it, and if that succeeds, production
	// failed after Parse with values the log does not have: a stand-in
	// raises the same SQLSTATE.
	reproParseThenStandIn
	// reproStandIn raises production's SQLSTATE on purpose.
	reproStandIn
)

// notSendable says why an Error event can not be replayed, "" when it can.
func notSendable(ev *parse.Event) string {
	switch {
	case ev.Err != nil && (ev.Err.Severity == "FATAL" || ev.Err.Severity == "PANIC"):
		return "fatal"
	case ev.Text == "":
		return "no_statement_text"
	}
	return ""
}

// planError picks how to raise an Error event again.
func planError(ev *parse.Event) reproduction {
	n := maxPlaceholder(ev.Text)
	complete := n > 0 && len(ev.Params) == n
	switch {
	case n == 0:
		return reproSimple
	case ev.Step == parse.StepParse && ev.Err != nil && typeClass(ev.Err.SQLState):
		// It failed on the types production's client declared, which the
		// log does not have: the target may well parse it.
		return reproParseThenStandIn
	case ev.Step == parse.StepParse:
		return reproParse
	case complete:
		return reproBind
	case ev.Step == parse.StepUnknown:
		return reproParseThenStandIn
	}
	return reproStandIn
}

// standIn is a statement that fails with ev's SQLSTATE: it stands for a
// production error whose values or types the log does not have. Its
// message names the query by fingerprint (never by text or values), so a
// reader of the target's log can tell which error it stands for.
func standIn(ev *parse.Event) string {
	state := ""
	if ev.Err != nil {
		state = ev.Err.SQLState
	}
	if !validSQLState(state) {
		state = "P0001"
	}
	at := ev.Step.String()
	if at == "" {
		at = "after parse"
	}
	return fmt.Sprintf("DO $pgrehearse$BEGIN RAISE EXCEPTION USING ERRCODE = '%s', MESSAGE = 'pgrehearse stand-in for query %s: production failed here (%s) with values or types the log does not have'; END$pgrehearse$", state, ev.Fingerprint, at)
}

func validSQLState(s string) bool {
	if len(s) != 5 {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

// maxPlaceholder returns the highest $n in text (0: none).
func maxPlaceholder(text string) int {
	best := 0
	for i := 0; i+1 < len(text); i++ {
		if text[i] != '$' || text[i+1] < '1' || text[i+1] > '9' {
			continue
		}
		j, n := i+1, 0
		for j < len(text) && text[j] >= '0' && text[j] <= '9' && n < 1<<16 {
			n = n*10 + int(text[j]-'0')
			j++
		}
		best = max(best, n)
		i = j - 1
	}
	return best
}

// typeClass reports whether a SQLSTATE is a type error a Parse raises:
// undefined function or operator, datatype mismatch, indeterminate or
// ambiguous types.
func typeClass(state string) bool {
	switch state {
	case "42883", "42804", "42P18", "42725":
		return true
	}
	return false
}

// typeError reports whether a Parse failed because the server could not
// infer a parameter's type, which production's client had declared: the
// log keeps values, not types. It returns the parameter (1-based) when the
// message names one, 0 when it applies to all untyped ones.
func typeError(state, message string) (param int, ok bool) {
	switch state {
	case "42P18": // could not determine data type of parameter $N
		if i := strings.LastIndex(message, "$"); i >= 0 {
			n := 0
			for _, c := range message[i+1:] {
				if c < '0' || c > '9' {
					break
				}
				n = n*10 + int(c-'0')
			}
			return n, true
		}
		return 0, true
	case "42725", "42804": // ambiguous function or operator; polymorphic unknown
		return 0, true
	}
	return 0, false
}
