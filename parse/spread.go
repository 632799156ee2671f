package parse

import "github.com/pgrehearse/pgrehearse/parse/logentry"

// Stamps within a millisecond. PostgreSQL stamps its log lines in
// milliseconds (%m, csvlog, jsonlog), and on a busy server dozens of
// entries share one stamp. Their order in the file is the order in which
// they were written: a statement logged with its duration is written when
// it ends, so among the entries of one stamp the earlier line ended
// earlier. Read as they are, all of them end at the start of the
// millisecond, and a start worked out as end minus duration puts the one
// that ran longer first, whatever the file says: two sessions that
// updated one row one after the other could come out in the other order,
// and a replay that follows that order makes the second wait for the
// first's lock where production did the opposite (with sysbench, a
// deadlock production never had).
//
// So each entry of a stamp is placed inside its millisecond by its rank
// in the file: the k-th (from 0) of an expected n at k/(n+1) of it, where
// n is how many entries the previous stamp had (the rate changes slowly);
// past n the entries close up towards the end of the millisecond, in
// order, without reaching the next one. The first stays on its stamp, so
// a stamp of one entry reads as logged. Only the order within a stamp is
// information; the positions are an estimate, and the workload's header
// keeps the log's precision.

// stampSpread places the entries of one input within their stamps.
type stampSpread struct {
	stamp int64 // the current stamp, as logged
	k     int64 // entries of it seen so far
	prev  int64 // entries the previous stamp had
}

// maxSpreadPrecision is the coarsest stamp spread: a log stamped in whole
// seconds (%t) has too little in it to place an entry within its second.
const maxSpreadPrecision = 1000

// place moves e's time within its stamp (an entry without a time has
// precision 0 and stays as it is).
func (sp *stampSpread) place(e *logentry.Entry) {
	p := e.TimePrecision
	if p <= 1 || p > maxSpreadPrecision {
		return
	}
	if e.Time != sp.stamp {
		if sp.k > 0 {
			sp.prev = sp.k
		}
		sp.stamp, sp.k = e.Time, 0
	}
	n := max(sp.prev, sp.k+1)
	e.Time += p * sp.k / (n + 1)
	sp.k++
}
