// Package replay is the second stage of pgrehearse: it runs a workload
// (from package parse) against a candidate cluster with the original
// timing, concurrency and protocol, and records what happened in a results
// stream that package compare reads.
//
// Every original session gets its own goroutine and, through an Executor,
// its own connection. A statement starts no earlier than its original
// offset divided by the speed factor, and never before the session's
// previous statement has finished. One reader hands events to the
// sessions' queues and never waits for any of them, so a session blocked
// on a lock holds up only itself; memory is bounded by one budget for the
// whole replay, and the backlog of a stalled session goes to disk when it
// grows past its share. Statements production sent before one Sync (one
// implicit transaction) are sent in one pipeline, and errors production
// had at Parse or Bind are raised again at their place, so every session
// goes through the same transaction states as in production.
//
// A control (Paired, control.go) replays the same schedule onto a copy of
// the baseline beside the candidate: each session has a connection on
// both, each unit goes to both at once, and neither side waits for the
// other. With checksums on (rows.go) the rows every statement returns are
// digested as they stream in, so compare can tell whether the candidate
// returned what the control did; traits.go reads from a statement's text
// whether its result is ordered, and whether it can differ from run to
// run. Before replaying, the collation pre-flight (collation.go) sets the
// candidate's databases beside the control's.
//
// Cancellation: when ctx passed to Run ends, no further statement is
// started; statements already running get Options.Grace to finish, then
// they are cancelled with a cancel request and recorded as interrupted,
// not as errors. Run returns after every session goroutine has ended.
//
// Connections: a session without one connects again before its next
// statement, with backoff; when no session could connect, and the target
// answered nothing, for Options.Unreachable, Run stops with an
// UnreachableError. Sessions the target refuses for max_connections
// (53300) are counted apart, and their statements record 53300.
package replay
