package main

import (
	"fmt"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/pgrehearse/pgrehearse/parse"
	"github.com/pgrehearse/pgrehearse/replay"
)

// progress is the one progress line on a terminal, drawn by progressbar:
// parse's bar of the bytes read, and replay's line of figures. Warnings
// print above it, so the line and the messages never mix.
type progress struct {
	mu  sync.Mutex
	env *environment
	bar *progressbar.ProgressBar
}

// newProgress starts a line; total is the bytes to read (-1: unknown, or
// figures only).
func newProgress(env *environment, total int64, bytes bool, what string) *progress {
	return &progress{env: env, bar: progressbar.NewOptions64(total, progressbar.OptionSetWriter(env.stderr),
		progressbar.OptionShowBytes(bytes), progressbar.OptionSetDescription(what),
		progressbar.OptionThrottle(200*time.Millisecond), progressbar.OptionClearOnFinish(),
		progressbar.OptionSetPredictTime(bytes), progressbar.OptionSpinnerType(14))}
}

// set moves the bar to done.
func (p *progress) set(done int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.bar.Set64(done)
}

// describe replaces the line's text.
func (p *progress) describe(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.bar.Describe(s)
}

// warn prints a warning above the line.
func (p *progress) warn(msg string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.bar.Clear()
	fmt.Fprintf(p.env.stderr, "pgrehearse: warning: %s\n", msg)
	p.bar.RenderBlank()
}

// finish clears the line.
func (p *progress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.bar.Finish()
}

// parseProgress shows parse's bytes read on a terminal; the function it
// returns clears the bar.
func parseProgress(env *environment, quiet bool, opt *parse.Options) func() {
	if !env.stderrTTY || quiet {
		return func() {}
	}
	var p *progress
	opt.Progress = func(done, total int64) {
		if p == nil {
			if total == 0 {
				total = -1
			}
			p = newProgress(env, total, true, "parsing")
		}
		p.set(done)
	}
	return func() {
		if p != nil {
			p.finish()
		}
	}
}

// replayProgress shows the replay's figures on a terminal, redrawn every
// second, until the returned function is called; warn prints a warning
// above the line, or, without a terminal, on a line of its own.
func replayProgress(env *environment, mon *replay.Monitor, quiet bool) (stop func(), warn func(string)) {
	if !env.stderrTTY || quiet {
		var mu sync.Mutex
		return func() {}, func(msg string) {
			mu.Lock()
			defer mu.Unlock()
			fmt.Fprintf(env.stderr, "pgrehearse: warning: %s\n", msg)
		}
	}
	p := newProgress(env, -1, false, mon.Line())
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				p.describe(mon.Line())
			case <-done:
				p.finish()
				return
			}
		}
	}()
	return func() { close(done); <-finished }, p.warn
}
