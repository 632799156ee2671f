package cloudwatchtest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Logs speaks what the pinned SDK's CloudWatch Logs client sends for
// GetLogEvents (AWS JSON 1.1: X-Amz-Target Logs_20140328.GetLogEvents)
// and serves Enhanced Monitoring streams in log group RDSOSMetrics,
// paged as CloudWatch Logs pages: at most 1 MB (each event counted with
// 26 bytes of overhead) or 10,000 events per answer, the last token
// coming back unchanged.
type Logs struct {
	// Streams are Enhanced Monitoring's streams by DbiResourceId; any
	// other stream does not exist.
	Streams map[string]Stream
	// FailType answers every request with this error.
	FailType string
	// MaxBytes and MaxEvents override the page limits.
	MaxBytes, MaxEvents int

	t        testing.TB
	mu       sync.Mutex
	Requests int
	// Events counts the events served, Bytes their size as counted.
	Events, Bytes int
}

// Stream is one instance's Enhanced Monitoring.
type Stream struct {
	Interval time.Duration // default 1 s
	Aurora   bool
	// Processes is the length of each event's process list (default 30:
	// a PostgreSQL instance with a few dozen backends).
	Processes int
	// From and To bound the events (zero: no bound).
	From, To time.Time
}

func (f *Logs) start(t testing.TB) http.Handler { f.t = t; return f }

func (f *Logs) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Requests++
	if r.Method != http.MethodPost || r.URL.Path != "/" || r.Header.Get("Content-Type") != "application/x-amz-json-1.1" ||
		r.Header.Get("X-Amz-Target") != "Logs_20140328.GetLogEvents" {
		f.t.Errorf("the CloudWatch Logs client no longer sends AWS JSON 1.1 GetLogEvents: %s %s Content-Type=%q X-Amz-Target=%q",
			r.Method, r.URL.Path, r.Header.Get("Content-Type"), r.Header.Get("X-Amz-Target"))
		http.Error(w, "unexpected protocol", http.StatusBadRequest)
		return
	}
	signedFor(f.t, r, "logs")
	if f.FailType != "" {
		jsonError(w, f.FailType, "User: arn:aws:iam::1:user/x is not authorized to perform: logs:GetLogEvents on resource: arn:aws:logs:eu-west-1:1:log-group:RDSOSMetrics:log-stream:x")
		return
	}
	body, _ := io.ReadAll(r.Body)
	var in struct {
		LogGroupName, LogStreamName string
		NextToken                   *string
		StartTime, EndTime          int64
		StartFromHead               bool
	}
	if err := json.Unmarshal(body, &in); err != nil || in.LogGroupName != "RDSOSMetrics" || !in.StartFromHead || in.EndTime <= in.StartTime {
		f.t.Errorf("GetLogEvents request: %v %s", err, body)
	}
	st, ok := f.Streams[in.LogStreamName]
	if !ok {
		jsonError(w, "ResourceNotFoundException", "The specified log stream does not exist.")
		return
	}
	iv := st.Interval
	if iv <= 0 {
		iv = time.Second
	}
	var stamps []time.Time
	for t := time.UnixMilli(in.StartTime).Truncate(iv); t.Before(time.UnixMilli(in.EndTime)); t = t.Add(iv) {
		if t.Before(time.UnixMilli(in.StartTime)) || !st.From.IsZero() && t.Before(st.From) || !st.To.IsZero() && t.After(st.To) {
			continue
		}
		stamps = append(stamps, t)
	}
	from := 0
	token := "f/0"
	if in.NextToken != nil {
		token = *in.NextToken
		from, _ = strconv.Atoi(strings.TrimPrefix(token, "f/"))
	}
	maxBytes, maxEvents := 1<<20, 10000
	if f.MaxBytes > 0 {
		maxBytes = f.MaxBytes
	}
	if f.MaxEvents > 0 {
		maxEvents = f.MaxEvents
	}
	var events []map[string]any
	size, i := 0, from
	for ; i < len(stamps) && len(events) < maxEvents; i++ {
		msg := EMEvent(in.LogStreamName, st, stamps[i])
		if size+len(msg)+26 > maxBytes {
			break
		}
		size += len(msg) + 26
		events = append(events, map[string]any{"timestamp": stamps[i].UnixMilli(), "message": string(msg), "ingestionTime": stamps[i].UnixMilli() + 900})
	}
	f.Events += len(events)
	f.Bytes += size
	next := token
	if i > from {
		next = "f/" + strconv.Itoa(i)
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	writeJSON(w, map[string]any{"events": events, "nextForwardToken": next, "nextBackwardToken": "b/" + strconv.Itoa(from)})
}

// EMValue is the generated value of an Enhanced Monitoring figure at t
// (the time it was taken).
func EMValue(what string, t time.Time) float64 {
	return float64(len(what)) + float64(t.Unix()%600)/10
}

// EMEvent is one Enhanced Monitoring record as RDS writes it, with the
// fields of the documented format: CPU, load, memory, tasks, network,
// diskIO (Aurora's storage without a device name, and a local device;
// RDS's rdsdev data volume and its filesystem), fileSys and a process
// list.
func EMEvent(resourceID string, st Stream, t time.Time) []byte {
	engine, disks := "POSTGRES", []map[string]any{
		{"device": "rdsdev", "readIOsPS": EMValue("rdsdev read", t), "writeIOsPS": EMValue("rdsdev write", t), "readKbPS": 812.4, "writeKbPS": 2301.6,
			"await": 1.2, "util": 3.4, "avgQueueLen": 0.11, "tps": 48.2, "readKb": 812, "writeKb": 2301, "avgReqSz": 16.1, "rrqmPS": 0, "wrqmPS": 0.4},
		{"device": "filesystem", "readIOsPS": EMValue("filesystem read", t), "writeIOsPS": EMValue("filesystem write", t), "readKbPS": 0.13, "writeKbPS": 177.2,
			"await": 1.52, "util": 0.35, "avgQueueLen": 0.03, "tps": 25.67, "readKb": 4, "writeKb": 5316, "avgReqSz": 13.82, "rrqmPS": 0, "wrqmPS": 8.3},
	}
	if st.Aurora {
		engine = "Aurora"
		disks = []map[string]any{
			{"readIOsPS": EMValue("aurora read", t), "writeIOsPS": EMValue("aurora write", t), "readLatency": 0.61, "writeLatency": 1.53,
				"readThroughput": 81920.5, "writeThroughput": 2048.2, "diskQueueDepth": 0},
			{"device": "nvme1n1", "readIOsPS": EMValue("local read", t), "writeIOsPS": EMValue("local write", t), "readKbPS": 0, "writeKbPS": 12.5,
				"await": 0.2, "util": 0.1, "avgQueueLen": 0, "tps": 1.5, "readKb": 0, "writeKb": 12, "avgReqSz": 8, "rrqmPS": 0, "wrqmPS": 0},
		}
	}
	ev := map[string]any{
		"engine": engine, "instanceID": "instance-of-" + resourceID, "instanceResourceID": resourceID,
		"timestamp": t.UTC().Format(time.RFC3339), "version": 1.0, "uptime": "10 days, 1:53:04", "numVCPUs": 4,
		"cpuUtilization": map[string]any{"guest": 0, "irq": 0.01, "system": 1.2, "wait": 0.54, "idle": 100 - EMValue("cpu", t), "user": EMValue("cpu", t) - 1.9,
			"total": EMValue("cpu", t), "steal": 0.07, "nice": 0.08},
		"loadAverageMinute": map[string]any{"fifteen": 0.14, "five": 0.17, "one": 0.18},
		"memory": map[string]any{"writeback": 0, "hugePagesFree": 0, "hugePagesRsvd": 0, "hugePagesSurp": 0, "cached": 11742648, "hugePagesSize": 2048,
			"free": 259016, "hugePagesTotal": 0, "inactive": 1817176, "pageTables": 25808, "dirty": 660, "mapped": 8087612, "active": 13016084,
			"total": 15670012, "slab": 437916, "buffers": 272136},
		"tasks":   map[string]any{"sleeping": 223, "zombie": 0, "running": 1, "stopped": 0, "total": 224, "blocked": 0},
		"swap":    map[string]any{"cached": 0, "total": 0, "free": 0, "in": 0, "out": 0},
		"network": []map[string]any{{"interface": "eth0", "rx": 217.57, "tx": 2319.67}},
		"diskIO":  disks,
		"fileSys": []map[string]any{{"used": 7006720, "name": "rdsfilesys", "usedFiles": 2650, "usedFilePercent": 0.13, "maxFiles": 1966080,
			"mountPoint": "/rdsdbdata", "total": 30828540, "usedPercent": 22.73}},
	}
	b, _ := json.Marshal(ev)
	// The process list is the bulk of an event and the same every time.
	return append(append(b[:len(b)-1], `,"processList":`...), append(processList(st.Processes), '}')...)
}

var (
	procMu    sync.Mutex
	procCache = map[int][]byte{}
)

// processList is the JSON of a process list of n PostgreSQL backends
// besides the OS's and RDS's own processes.
func processList(n int) []byte {
	if n <= 0 {
		n = 30
	}
	procMu.Lock()
	defer procMu.Unlock()
	if b, ok := procCache[n]; ok {
		return b
	}
	procs := []map[string]any{
		{"vss": 647304, "name": "OS processes", "tgid": 0, "parentID": 0, "memoryUsedPc": 0.18, "cpuUsedPc": 0.02, "id": 0, "rss": 22600},
		{"vss": 3244792, "name": "RDS processes", "tgid": 0, "parentID": 0, "memoryUsedPc": 2.8, "cpuUsedPc": 0.78, "id": 0, "rss": 441652},
	}
	for i := 0; i < n; i++ {
		procs = append(procs, map[string]any{"vss": 4382192, "name": fmt.Sprintf("postgres: app appdb 10.0.1.%d(%d) idle", 10+i%200, 40000+i),
			"tgid": 5000 + i, "parentID": 4100, "memoryUsedPc": 0.41, "cpuUsedPc": 0.3, "id": 5000 + i, "rss": 71344, "vmlimit": "unlimited"})
	}
	b, _ := json.Marshal(procs)
	procCache[n] = b
	return b
}
