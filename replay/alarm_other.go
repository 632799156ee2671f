//go:build !linux

package replay

import "time"

// alarm is the timerfd alarm of alarm_linux.go; elsewhere there is none
// and sessions sleep on timers of their own.
type alarm struct{}

type waker struct{ c chan struct{} }

func newAlarm() *alarm                      { return nil }
func newWaker() *waker                      { return &waker{c: make(chan struct{}, 1)} }
func (a *alarm) run()                       {}
func (a *alarm) close()                     {}
func (a *alarm) wait(w *waker, t time.Time) {}
func (a *alarm) leave(w *waker)             {}
