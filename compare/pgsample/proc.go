package pgsample

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
)

// clockTicks is USER_HZ, the unit of /proc/PID/stat times: 100 on every
// Linux architecture Go supports.
const clockTicks = 100

// procTicks reads utime+stime of pid, plus cutime+cstime (its children
// already reaped) when withChildren is set.
func procTicks(pid int, withChildren bool) (int64, error) {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	f, _, err := statFields(raw)
	if err != nil {
		return 0, err
	}
	// After "pid (comm)": field 3 is state; utime is field 14, stime 15,
	// cutime 16, cstime 17 (1-based), i.e. f[11..14].
	n := 2
	if withChildren {
		n = 4
	}
	var sum int64
	for i := 0; i < n; i++ {
		v, err := strconv.ParseInt(string(f[11+i]), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
		}
		sum += v
	}
	return sum, nil
}

// statFields splits /proc/PID/stat after the command name (which may
// hold spaces and parentheses) and returns the fields from state on, and
// the parent pid.
func statFields(raw []byte) ([][]byte, int, error) {
	i := bytes.LastIndexByte(raw, ')')
	if i < 0 || i+2 > len(raw) {
		return nil, 0, fmt.Errorf("malformed /proc stat")
	}
	f := bytes.Fields(raw[i+2:])
	if len(f) < 15 {
		return nil, 0, fmt.Errorf("short /proc stat")
	}
	ppid, err := strconv.Atoi(string(f[1]))
	return f, ppid, err
}

// clusterTicks is the CPU of the postmaster, of the backends it has
// reaped, and of its live children. A backend that exits between the
// scan and its reaping is briefly missed: one tick of noise, not a trend.
func clusterTicks(postmaster int) int64 {
	total, err := procTicks(postmaster, true)
	if err != nil {
		return -1
	}
	d, err := os.Open("/proc")
	if err != nil {
		return total
	}
	defer d.Close()
	names, _ := d.Readdirnames(-1)
	for _, name := range names {
		pid, err := strconv.Atoi(name)
		if err != nil || pid == postmaster {
			continue
		}
		raw, err := os.ReadFile("/proc/" + name + "/stat")
		if err != nil {
			continue
		}
		f, ppid, err := statFields(raw)
		if err != nil || ppid != postmaster {
			continue
		}
		for _, j := range []int{11, 12} {
			if v, err := strconv.ParseInt(string(f[j]), 10, 64); err == nil {
				total += v
			}
		}
	}
	return total
}
