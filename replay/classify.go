package replay

// ErrorMatch is how a statement's outcome on the target compares with
// what it did in production.
type ErrorMatch uint8

// The ways a statement's error on the target can compare with production.
const (
	// NoError: it failed neither here nor in production.
	NoError ErrorMatch = iota
	// Reproduced: it failed here as in production.
	Reproduced
	// New: it failed here and not in production.
	New
	// Missing: it failed in production and not here.
	Missing
	// Changed: it failed in both, with another SQLSTATE.
	Changed
)

// MatchError compares production's SQLSTATE ("" when the statement
// worked there, "unknown" when the log did not say which) with the
// target's (got: "" when it worked, "connection" when it failed without
// one); sent is false when the statement was not sent.
func MatchError(production, got string, sent bool) ErrorMatch {
	switch {
	case production == "" && got == "":
		return NoError
	case production == "":
		return New
	case !sent || got == "":
		return Missing
	case got == production || production == "unknown":
		return Reproduced
	}
	return Changed
}

// MissingReason says why a production error did not happen on the target,
// "" when it did or there was none: "succeeded", "other_sqlstate", or why
// the statement was not sent (its skip reason).
func MissingReason(production, got, skipReason string) string {
	switch MatchError(production, got, skipReason == "") {
	case Missing:
		if skipReason != "" {
			return skipReason
		}
		return "succeeded"
	case Changed:
		return "other_sqlstate"
	}
	return ""
}

// LostConnection reports whether a result's SQLSTATE says the statement
// failed for want of a connection rather than on the target: none could
// be made or it broke ("connection"), a connection exception (class 08),
// or the server shutting down or starting up (57P01, 57P02, 57P03).
func LostConnection(state string) bool {
	return state == "connection" || len(state) == 5 && state[:2] == "08" || state != "" && unanswered(state)
}
