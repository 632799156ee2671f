package main

import (
	"strings"
	"testing"

	"github.com/pgrehearse/pgrehearse/parse"
)

// TestConnectionsCountTheReplaysOwn: a workload whose peak fits in the
// target's limit is still warned about when the replay's own
// connections (the lock monitor, the types probes) do not.
func TestConnectionsCountTheReplaysOwn(t *testing.T) {
	tr := &parse.Summary{Sessions: 38, PeakSessions: 7, Users: []string{"app", "bench", "report"}, Databases: []string{"app", "bench"}}
	if own := ownConnections(tr); own != 7 {
		t.Fatalf("own connections %d, want 1 monitor + 6 user and database pairs", own)
	}
	for _, tc := range []struct {
		max, reserved int
		warn          bool
	}{
		{12, 3, true},  // 9 slots: 7 sessions fit, 7 + 7 do not
		{20, 3, false}, // 17 slots: 14 fit
		{14, 0, false}, // exactly 14
	} {
		var b strings.Builder
		ti := &targetInfo{maxConnections: tc.max, reserved: tc.reserved}
		ti.connections(&environment{stderr: &b}, tr.PeakSessions, ownConnections(tr))
		if got := strings.Contains(b.String(), "too many connections ahead") && strings.Contains(b.String(), "plus up to 7 connections of the replay's own"); got != tc.warn {
			t.Errorf("max_connections %d (%d reserved): warned %v, want %v: %q", tc.max, tc.reserved, got, tc.warn, b.String())
		}
	}
}
