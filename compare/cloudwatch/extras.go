package cloudwatch

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/pgrehearse/pgrehearse/compare/enhanced"
	"github.com/pgrehearse/pgrehearse/compare/metrics"
	"github.com/pgrehearse/pgrehearse/compare/pi"
)

// fine are the metrics Enhanced Monitoring gives at its own interval.
var fine = []string{metrics.CPU, metrics.ReadIOPS, metrics.WriteIOPS}

// addEnhanced reads Enhanced Monitoring when asked (enhanced=on) or when
// the instance has it on (auto), and puts its CPU and IOPS in place of
// CloudWatch's one-minute figures, which stay in the set as cpu:cloudwatch,
// read_iops:cloudwatch and write_iops:cloudwatch. Enhanced Monitoring off
// is a caveat, not an error.
func (s *Source) addEnhanced(ctx context.Context, w metrics.Window, set *metrics.Set, inst *Instance) error {
	if s.Enhanced == "off" || inst == nil {
		return nil
	}
	if s.Enhanced != "on" && inst.MonitoringInterval <= 0 {
		s.noteCoarse(set, fmt.Sprintf("Enhanced Monitoring is off on %s (MonitoringInterval 0): CloudWatch's one-minute figures; set MonitoringInterval to 1 for one-second ones", inst.ID))
		return nil
	}
	r := &enhanced.Reader{Client: s.Logs, ResourceID: inst.ResourceID, Instance: inst.ID, Interval: inst.MonitoringInterval}
	series, warnings, err := r.Fetch(ctx, w)
	s.LogsCalls += r.Calls
	set.Warnings = append(set.Warnings, warnings...)
	switch {
	case errors.Is(err, enhanced.ErrOff):
		s.noteCoarse(set, err.Error()+": CloudWatch's one-minute figures instead")
		return nil
	case err != nil && s.Enhanced == "on":
		return err
	case err != nil:
		set.Warnings = append(set.Warnings, fmt.Sprintf("%v; CloudWatch's one-minute CPU and IOPS are used instead", err))
		return nil
	}
	for _, em := range series {
		if old := set.Get(em.Metric); old != nil {
			old.Metric += ":cloudwatch"
		}
		set.Series = append(set.Series, em)
	}
	return nil
}

// noteCoarse tells, on the series themselves, why CPU and IOPS are at
// CloudWatch's resolution.
func (s *Source) noteCoarse(set *metrics.Set, why string) {
	set.Warnings = append(set.Warnings, why)
	for _, m := range fine {
		if sr := set.Get(m); sr != nil {
			sr.Caveats = append(sr.Caveats, why)
		}
	}
}

// addPI reads Performance Insights when asked (pi=on) or when the
// instance has it on (auto).
func (s *Source) addPI(ctx context.Context, w metrics.Window, set *metrics.Set, inst *Instance) error {
	if s.PI == "off" || inst == nil {
		return nil
	}
	if s.PI != "on" && !inst.PerformanceInsights {
		set.Warnings = append(set.Warnings, fmt.Sprintf("Performance Insights is off on %s: no load by wait event or statement (turn on Performance Insights or Database Insights)", inst.ID))
		return nil
	}
	r := &pi.Reader{Client: s.Insights, ResourceID: inst.ResourceID, Instance: inst.ID, Engine: inst.Engine}
	waits, err := r.Fetch(ctx, w)
	s.PICalls += r.Calls
	if err != nil {
		if s.PI == "on" {
			return err
		}
		set.Warnings = append(set.Warnings, fmt.Sprintf("%v; the comparison goes on without wait events", err))
		return nil
	}
	if strings.HasPrefix(inst.Engine, "aurora") {
		waits.Caveats = append(waits.Caveats, "Aurora PostgreSQL: some wait events mean something else than on community PostgreSQL (commits wait on the storage quorum, reads come from the network volume)")
	}
	set.Waits = waits
	return nil
}
