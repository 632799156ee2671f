package replay

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgrehearse/pgrehearse/parse"
)

// A pipeline sends the statements of one implicit transaction, as
// production's client did (pgJDBC executeBatch, psycopg pipeline(), pgx
// SendBatch): every message first, then one Sync, so they commit together
// or, when one fails, the server skips the rest and rolls all back.

// request is one pipelined request and the event it serves.
type request struct {
	ev      int  // index in the unit
	prepare bool // a Parse/Describe of a named statement, not its execution
	name    string
	text    string
	standIn bool
}

// pipeline runs unit in one pipeline. When a statement production ran
// fails because the target could not infer a parameter type, the whole
// implicit transaction was rolled back by the server: the unit is sent
// again once, with the types learned.
func (p *pgConn) pipeline(ctx context.Context, unit []*parse.Event, outs []Outcome) {
	retry := p.pipelineOnce(ctx, unit, outs)
	if retry && !p.w.cancelled() {
		clear(outs)
		p.pipelineOnce(ctx, unit, outs)
		for i := range outs {
			outs[i].Retyped = true
		}
	}
}

// pipelineOnce sends unit and reads its results into outs. It returns true
// when a type error production did not have aborted it and the types are
// now known.
func (p *pgConn) pipelineOnce(ctx context.Context, unit []*parse.Event, outs []Outcome) (retry bool) {
	pl := p.c.StartPipeline(unwatched)
	var reqs []request
	for i, ev := range unit {
		reqs = p.send(ctx, pl, i, ev, reqs)
	}
	pl.SendPipelineSync()
	if err := pl.Flush(); err != nil {
		for i := range outs {
			outs[i] = outcome(0, err)
		}
		pl.Close()
		return false
	}
	failed := -1
	for _, rq := range reqs {
		res, err := pl.GetResults()
		if err == nil {
			if _, sync := res.(*pgconn.PipelineSync); sync {
				// The server skipped the rest after an error.
				break
			}
			o := &outs[rq.ev]
			switch r := res.(type) {
			case *pgconn.ResultReader:
				*o = p.read(r, unit[rq.ev])
				if o.Err != nil {
					failed = rq.ev
				}
			}
			o.Done = time.Now()
			continue
		}
		var pe *pgconn.PgError
		if !errors.As(err, &pe) {
			// The connection failed: nothing after this is known.
			for i := rq.ev; i < len(outs); i++ {
				outs[i] = outcome(0, err)
			}
			pl.Close()
			return false
		}
		outs[rq.ev] = outcome(0, err)
		outs[rq.ev].Done = time.Now()
		failed = rq.ev
		if rq.prepare && rq.name != "" {
			delete(p.prepared, rq.name)
		}
		// The server skips everything up to the Sync; pgconn drops the
		// requests it will get no answer for.
		break
	}
	if err := pl.Close(); err != nil {
		var pe *pgconn.PgError
		if !errors.As(err, &pe) && failed < 0 {
			for i := range outs {
				if outs[i].Err == nil && outs[i].Done.IsZero() {
					outs[i] = outcome(0, err)
				}
			}
		}
	}
	for _, rq := range reqs {
		if rq.standIn {
			outs[rq.ev].StandIn = true
		}
	}
	if failed >= 0 {
		for i := failed + 1; i < len(outs); i++ {
			outs[i] = Outcome{Skipped: true, SkipReason: "pipeline_aborted"}
		}
		ev := unit[failed]
		if ev.Kind == parse.Statement && ev.Err == nil && p.c.TxStatus() == 'I' {
			_, ok := p.retype(ctx, ev, p.x.types.get(p.s.Database, ev.Text), outs[failed])
			return ok
		}
	}
	return false
}

// send queues the requests of one event of a pipeline.
func (p *pgConn) send(ctx context.Context, pl *pgconn.Pipeline, i int, ev *parse.Event, reqs []request) []request {
	if ev.Kind == parse.Error {
		// In a pipeline there is no second try: an error the log lacks
		// the values or types to reproduce is raised by a stand-in.
		switch planError(ev) {
		case reproParse:
			pl.SendPrepare("", ev.Text, nil)
			return append(reqs, request{ev: i, prepare: true})
		case reproBind, reproSimple:
			pl.SendQueryParams(ev.Text, p.values(ev.Params), nil, nil, nil)
		default:
			pl.SendQueryParams(standIn(ev), nil, nil, nil, nil)
			return append(reqs, request{ev: i, standIn: true})
		}
		return append(reqs, request{ev: i})
	}
	oids := p.typesFor(ctx, ev)
	if ev.Protocol == parse.Unnamed || p.x.Unnamed {
		pl.SendQueryParams(ev.Text, p.values(ev.Params), oids, nil, nil)
		return append(reqs, request{ev: i})
	}
	if text, ok := p.prepared[ev.Name]; !ok || text != ev.Text {
		if ok {
			pl.SendDeallocate(ev.Name)
			delete(p.prepared, ev.Name)
			reqs = append(reqs, request{ev: i, prepare: true})
		}
		pl.SendPrepare(ev.Name, ev.Text, oids)
		// Taken as prepared for the rest of the pipeline (a batch
		// executes it many times); forgotten again if it fails.
		p.prepared[ev.Name] = ev.Text
		reqs = append(reqs, request{ev: i, prepare: true, name: ev.Name, text: ev.Text})
	}
	pl.SendQueryPrepared(ev.Name, p.values(ev.Params), nil, nil)
	return append(reqs, request{ev: i})
}
