package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/pgrehearse/pgrehearse/parse"
	"github.com/pgrehearse/pgrehearse/parse/fingerprint"
)

// eventJSON is the JSON line form of a workload event printed by
// inspect --events. Parameter values appear only with --show-params.
type eventJSON struct {
	Kind        string           `json:"kind"`
	Time        string           `json:"time"`
	Session     uint64           `json:"session,omitempty"`
	Key         string           `json:"key,omitempty"`
	User        string           `json:"user,omitempty"`
	Database    string           `json:"database,omitempty"`
	Application string           `json:"application,omitempty"`
	Index       *int             `json:"index,omitempty"`
	Protocol    string           `json:"protocol,omitempty"`
	Name        string           `json:"name,omitempty"`
	Text        string           `json:"text,omitempty"`
	Params      []*string        `json:"params,omitempty"`
	ParamCount  int              `json:"param_count,omitempty"`
	DurationMS  *float64         `json:"duration_ms,omitempty"`
	NotReplay   string           `json:"not_replayable,omitempty"`
	Error       *parse.StmtError `json:"error,omitempty"`
	Line        int64            `json:"line,omitempty"`
}

var kindNames = map[parse.EventKind]string{
	parse.SessionStart: "session_start", parse.Statement: "statement", parse.Update: "update",
	parse.Error: "error", parse.SessionEnd: "session_end",
}

func runInspect(ctx context.Context, env *environment, args []string) error {
	fs := newFlags(env, "inspect", "WORKLOAD (- for standard input)")
	events := fs.Bool("events", false, "print every event as a JSON line after the header")
	showParams := fs.Bool("show-params", false, "show statements as logged, with their parameter values, in --events output (they are production data; passwords stay masked)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return usagef("inspect: name one workload file")
	}
	in, err := openInput(fs.Arg(0), env.stdin)
	if err != nil {
		return fmt.Errorf("inspect: %w", err)
	}
	defer in.Close()
	r, err := parse.NewReader(in)
	if err != nil {
		return fmt.Errorf("inspect %s: %w", fs.Arg(0), err)
	}
	defer r.Close()
	enc := json.NewEncoder(env.stdout)
	if !*events {
		// Header and trailer, pretty, for a person.
		enc.SetIndent("", "  ")
	}
	if err := enc.Encode(map[string]any{"header": r.Header()}); err != nil {
		return err
	}
	var n int64
	for ev, err := range r.Events() {
		if err != nil {
			return fmt.Errorf("inspect %s: %w", fs.Arg(0), err)
		}
		n++
		if n&4095 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		if *events {
			if err := enc.Encode(toJSON(ev, *showParams)); err != nil {
				return err
			}
		}
	}
	return enc.Encode(map[string]any{"summary": r.Trailer()})
}

func toJSON(ev *parse.Event, showParams bool) *eventJSON {
	j := &eventJSON{Kind: kindNames[ev.Kind], Time: time.UnixMicro(ev.Time).UTC().Format(time.RFC3339Nano), Line: ev.Line}
	if s := ev.Session; s != nil {
		j.Session = s.ID
		if ev.Kind == parse.SessionStart {
			j.Key, j.User, j.Database, j.Application = s.Key, s.User, s.Database, s.Application
		}
	}
	switch ev.Kind {
	case parse.Statement, parse.Update:
		idx := ev.Index
		j.Index = &idx
	}
	if ev.Kind == parse.Statement {
		j.Protocol, j.Name, j.Text = ev.Protocol.String(), ev.Name, shownText(ev.Text, showParams)
		j.ParamCount = len(ev.Params)
		if showParams {
			for _, p := range ev.Params {
				if p.Null {
					j.Params = append(j.Params, nil)
					continue
				}
				v := p.Value
				j.Params = append(j.Params, &v)
			}
		}
		if ev.Skip != parse.Replayable {
			j.NotReplay = ev.Skip.String()
		}
	}
	if ev.Kind == parse.Error {
		j.Text = shownText(ev.Text, showParams)
	}
	if ev.Duration >= 0 {
		ms := float64(ev.Duration) / 1000
		j.DurationMS = &ms
	}
	if ev.Err != nil {
		e := *ev.Err
		if !showParams {
			e.Message = fingerprint.MaskMessage(e.Message)
		}
		e.Message = fingerprint.MaskPasswords(e.Message)
		j.Error = &e
	}
	return j
}

// shownText is a statement as inspect prints it: normalised, as reports
// show queries, unless --show-params asks for it as logged; a password
// literal is masked either way.
func shownText(text string, showParams bool) string {
	if text == "" {
		return ""
	}
	if !showParams {
		return fingerprint.Redact(text)
	}
	return fingerprint.MaskPasswords(text)
}
