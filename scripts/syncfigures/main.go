// Command syncfigures sums up the FIGURE lines TestSyncContended logs
// (go test -v ./replay -run TestSyncContended): per capture, sync mode and
// speed, how many runs had errors production did not have, lateness p99
// (median and worst run) and max, sync waits, and the replayer's CPU per
// statement, as a Markdown table. scripts/sync-fidelity.sh runs it.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
)

type figure struct {
	Capture      string  `json:"capture"`
	Mode         string  `json:"mode"`
	Speed        float64 `json:"speed"`
	NewErrors    int64   `json:"new_errors"`
	NewDeadlocks int64   `json:"new_deadlocks"`
	LatenessP99  float64 `json:"lateness_p99_ms"`
	LatenessMax  float64 `json:"lateness_max_ms"`
	SyncWaitS    float64 `json:"sync_wait_s"`
	SyncTimedOut int64   `json:"sync_timed_out"`
	SyncCycles   int64   `json:"sync_cycles"`
	CPUPerStmtUS float64 `json:"cpu_per_statement_us"`
	WaitMS       float64 `json:"lock_wait_per_statement_ms"`
	ProdWaitMS   float64 `json:"production_lock_wait_per_statement_ms"`
	BehindSched  bool    `json:"behind_schedule"`
}

func main() {
	groups := map[string][]figure{}
	var order []string
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		i := strings.Index(line, "FIGURE {")
		if i < 0 {
			continue
		}
		var f figure
		if err := json.Unmarshal([]byte(line[i+len("FIGURE "):]), &f); err != nil {
			fmt.Fprintf(os.Stderr, "syncfigures: %v: %s\n", err, line)
			continue
		}
		k := fmt.Sprintf("%s|%s|%g", f.Capture, f.Mode, f.Speed)
		if groups[k] == nil {
			order = append(order, k)
		}
		groups[k] = append(groups[k], f)
	}
	if len(order) == 0 {
		fmt.Fprintln(os.Stderr, "syncfigures: no FIGURE lines on standard input (run go test -v ./replay -run TestSyncContended)")
		os.Exit(1)
	}
	fmt.Println("| capture | mode | speed | runs with new errors or deadlocks | lateness p99 median / worst (ms) | lateness max (ms) | sync wait per run (s) | went on (bound + cycle) per run | replayer CPU per statement (µs) | lock wait per writing statement, target / production (ms) | runs behind schedule |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|---|")
	for _, k := range order {
		fs := groups[k]
		var p99s []float64
		var maxL, wait, cpu, tw, pw float64
		var went int64
		bad, behind := 0, 0
		for _, f := range fs {
			if f.NewErrors > 0 || f.NewDeadlocks > 0 {
				bad++
			}
			if f.BehindSched {
				behind++
			}
			p99s = append(p99s, f.LatenessP99)
			maxL = max(maxL, f.LatenessMax)
			wait += f.SyncWaitS
			went += f.SyncTimedOut + f.SyncCycles
			cpu += f.CPUPerStmtUS
			tw += f.WaitMS
			pw = f.ProdWaitMS
		}
		sort.Float64s(p99s)
		n := float64(len(fs))
		f := fs[0]
		fmt.Printf("| %s | %s | %g | %d of %d | %.0f / %.0f | %.0f | %.2f | %.1f | %.0f | %.3f / %.3f | %d |\n",
			f.Capture, f.Mode, f.Speed, bad, len(fs), p99s[len(p99s)/2], p99s[len(p99s)-1], maxL, wait/n, float64(went)/n, cpu/n, tw/n, pw, behind)
	}
}
