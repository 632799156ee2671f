// Package enhanced reads RDS and Aurora Enhanced Monitoring: the OS
// metrics the instance's agent writes every 1–60 s as JSON to CloudWatch
// Logs (log group RDSOSMetrics, one stream per instance named by its
// DbiResourceId). compare/cloudwatch uses it to give CPU and IOPS at the
// monitoring interval instead of CloudWatch's one minute: a ten-minute
// rehearsal gets 600 points per side instead of 10.
package enhanced

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	smithy "github.com/aws/smithy-go"

	"github.com/pgrehearse/pgrehearse/compare/metrics"
)

// LogGroup is where RDS writes Enhanced Monitoring.
const LogGroup = "RDSOSMetrics"

// AuroraStorage names Aurora's storage device, which Enhanced Monitoring
// lists without a device name.
const AuroraStorage = "aurora-storage"

// API is the part of the CloudWatch Logs client the reader uses.
type API interface {
	GetLogEvents(ctx context.Context, in *cloudwatchlogs.GetLogEventsInput, opt ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.GetLogEventsOutput, error)
}

// ErrOff says the instance has no Enhanced Monitoring for the window.
var ErrOff = errors.New("no Enhanced Monitoring")

// Reader reads one instance's Enhanced Monitoring.
type Reader struct {
	Client API
	// ResourceID is the instance's DbiResourceId, the log stream's name;
	// Instance its identifier, for messages.
	ResourceID, Instance string
	// Interval is the instance's MonitoringInterval; when 0 it is read
	// from the events' spacing.
	Interval time.Duration
	// Calls counts GetLogEvents requests.
	Calls int
}

// Event is the part of one Enhanced Monitoring record the reader uses.
type Event struct {
	Engine     string    `json:"engine"`
	InstanceID string    `json:"instanceID"`
	ResourceID string    `json:"instanceResourceID"`
	Timestamp  time.Time `json:"timestamp"`
	NumVCPUs   int       `json:"numVCPUs"`
	CPU        struct {
		Total float64 `json:"total"`
	} `json:"cpuUtilization"`
	DiskIO []Disk `json:"diskIO"`
}

// Disk is one device's I/O in an event. Aurora's storage has no device
// name.
type Disk struct {
	Device     string  `json:"device"`
	ReadIOsPS  float64 `json:"readIOsPS"`
	WriteIOsPS float64 `json:"writeIOsPS"`
}

// Events reads every event of the window, all pages. An event is stamped
// when its figures were taken, at the end of the interval they cover, so
// events up to one interval after the window's end still describe it.
func (r *Reader) Events(ctx context.Context, w metrics.Window) ([]Event, int, error) {
	slack := r.Interval
	if slack <= 0 {
		slack = time.Minute
	}
	in := &cloudwatchlogs.GetLogEventsInput{
		LogGroupName:  aws.String(LogGroup),
		LogStreamName: aws.String(r.ResourceID),
		// An event stamped at the window's start covers the second before
		// it: from just after the start to one interval after the end
		// (EndTime is exclusive).
		StartTime:     aws.Int64(w.Start.UnixMilli() + 1),
		EndTime:       aws.Int64(w.End.Add(slack).UnixMilli()),
		StartFromHead: aws.Bool(true),
	}
	var evs []Event
	bad := 0
	for {
		r.Calls++
		out, err := r.Client.GetLogEvents(ctx, in)
		if err != nil {
			return nil, bad, r.explain(err)
		}
		for _, e := range out.Events {
			var ev Event
			if err := json.Unmarshal([]byte(aws.ToString(e.Message)), &ev); err != nil || ev.Timestamp.IsZero() {
				bad++
				continue
			}
			evs = append(evs, ev)
		}
		// A page may be empty with more to come: the end is a token that
		// comes back unchanged.
		next := out.NextForwardToken
		if next == nil || in.NextToken != nil && *next == *in.NextToken {
			break
		}
		in.NextToken = next
	}
	sort.Slice(evs, func(i, j int) bool { return evs[i].Timestamp.Before(evs[j].Timestamp) })
	return evs, bad, nil
}

// interval is the configured interval, or the median spacing of the
// events.
func (r *Reader) interval(evs []Event) time.Duration {
	if r.Interval > 0 {
		return r.Interval
	}
	var gaps []time.Duration
	for i := 1; i < len(evs); i++ {
		if d := evs[i].Timestamp.Sub(evs[i-1].Timestamp); d > 0 {
			gaps = append(gaps, d)
		}
	}
	if len(gaps) == 0 {
		return time.Minute
	}
	sort.Slice(gaps, func(i, j int) bool { return gaps[i] < gaps[j] })
	return gaps[len(gaps)/2].Round(time.Second)
}

// Fetch reads the window's events and derives cpu, read_iops and
// write_iops at the monitoring interval, plus read_iops:DEVICE and
// write_iops:DEVICE for every device.
func (r *Reader) Fetch(ctx context.Context, w metrics.Window) ([]metrics.Series, []string, error) {
	evs, bad, err := r.Events(ctx, w)
	if err != nil {
		return nil, nil, err
	}
	var warnings []string
	if bad > 0 {
		warnings = append(warnings, fmt.Sprintf("enhanced monitoring: %d events of %s/%s were not Enhanced Monitoring JSON and were skipped", bad, LogGroup, r.ResourceID))
	}
	var in []Event
	iv := r.interval(evs)
	for _, e := range evs {
		// Each event covers the interval before its timestamp.
		if st := e.Timestamp.Add(-iv); st.Before(w.End) && e.Timestamp.After(w.Start) {
			in = append(in, e)
		}
	}
	if len(in) == 0 {
		return nil, warnings, fmt.Errorf("%w for %s between %s and %s: no events in log stream %s/%s", ErrOff, r.Instance,
			w.Start.UTC().Format(time.RFC3339), w.End.UTC().Format(time.RFC3339), LogGroup, r.ResourceID)
	}
	return Series(in, iv, LogGroup+"/"+r.ResourceID), warnings, nil
}

// Series derives the standard series from events taken every interval.
// Points are stamped with the start of the interval each event covers.
func Series(evs []Event, interval time.Duration, stream string) []metrics.Series {
	src := "enhanced monitoring " + stream + " "
	aurora := len(evs) > 0 && strings.Contains(strings.ToLower(evs[0].Engine), "aurora")
	cpu := metrics.Series{Metric: metrics.CPU, Unit: metrics.Unit(metrics.CPU), Period: interval, Source: src + "cpuUtilization.total",
		Caveats: []string{"Enhanced Monitoring's CPU comes from an agent on the instance, CloudWatch's CPUUtilization from the hypervisor: the two differ by the hypervisor's own small share"}}
	devices := map[string]*[2]metrics.Series{}
	var names []string
	for _, e := range evs {
		t := e.Timestamp.Add(-interval).UTC()
		cpu.Points = append(cpu.Points, metrics.Point{T: t, V: e.CPU.Total})
		// Entries of one event that share a name (two unnamed devices)
		// are added up: one point per device and time.
		io := map[string][2]float64{}
		var seen []string
		for _, d := range e.DiskIO {
			name := d.Device
			if name == "" {
				name = AuroraStorage
			}
			if _, ok := io[name]; !ok {
				seen = append(seen, name)
			}
			v := io[name]
			io[name] = [2]float64{v[0] + d.ReadIOsPS, v[1] + d.WriteIOsPS}
		}
		for _, name := range seen {
			s := devices[name]
			if s == nil {
				s = &[2]metrics.Series{}
				for i, m := range []string{metrics.ReadIOPS, metrics.WriteIOPS} {
					field := []string{"readIOsPS", "writeIOsPS"}[i]
					s[i] = metrics.Series{Metric: m + ":" + name, Unit: "ops/s", Period: interval, Source: src + "diskIO " + name + " " + field}
				}
				devices[name] = s
				names = append(names, name)
			}
			s[0].Points = append(s[0].Points, metrics.Point{T: t, V: io[name][0]})
			s[1].Points = append(s[1].Points, metrics.Point{T: t, V: io[name][1]})
		}
	}
	out := []metrics.Series{cpu}
	sort.Strings(names)
	// The device CloudWatch's ReadIOPS/WriteIOPS describe: Aurora's
	// storage, or RDS's data volume (rdsdev); otherwise every device.
	storage := ""
	switch {
	case aurora && devices[AuroraStorage] != nil:
		storage = AuroraStorage
	case devices["rdsdev"] != nil:
		storage = "rdsdev"
	}
	for i, m := range []string{metrics.ReadIOPS, metrics.WriteIOPS} {
		var total metrics.Series
		if storage != "" {
			total = devices[storage][i]
			total.Caveats = []string{"device " + storage + " only; the other devices are the series " + m + ":NAME"}
		} else if len(names) > 0 {
			total = sumDevices(names, devices, i)
		} else {
			continue
		}
		if storage == AuroraStorage {
			total.Caveats = append(total.Caveats, "Aurora storage as this instance sees it: reads of pages and writes of log records to the cluster volume, not page writes")
		}
		total.Metric, total.Unit = m, metrics.Unit(m)
		out = append(out, total)
	}
	for _, n := range names {
		out = append(out, devices[n][0], devices[n][1])
	}
	return out
}

// sumDevices adds up field i of every device per timestamp.
func sumDevices(names []string, devices map[string]*[2]metrics.Series, i int) metrics.Series {
	sum := map[int64]float64{}
	var ts []int64
	for _, n := range names {
		for _, p := range devices[n][i].Points {
			k := p.T.UnixNano()
			if _, ok := sum[k]; !ok {
				ts = append(ts, k)
			}
			sum[k] += p.V
		}
	}
	sort.Slice(ts, func(a, b int) bool { return ts[a] < ts[b] })
	first := devices[names[0]][i]
	s := metrics.Series{Period: first.Period, Source: strings.Replace(first.Source, " diskIO "+names[0]+" ", " diskIO "+strings.Join(names, "+")+" ", 1),
		Caveats: []string{"the sum of devices " + strings.Join(names, ", ")}}
	for _, k := range ts {
		s.Points = append(s.Points, metrics.Point{T: time.Unix(0, k).UTC(), V: sum[k]})
	}
	return s
}

// explain says what a CloudWatch Logs error means for Enhanced
// Monitoring.
func (r *Reader) explain(err error) error {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch code := ae.ErrorCode(); {
		case code == "ResourceNotFoundException":
			return fmt.Errorf("%w for %s: CloudWatch Logs has no log stream %s in log group %s (Enhanced Monitoring is off, or was never on: set the instance's MonitoringInterval, 1 s for one-second figures)",
				ErrOff, r.Instance, r.ResourceID, LogGroup)
		case strings.Contains(code, "AccessDenied") || code == "UnauthorizedOperation":
			return fmt.Errorf("enhanced monitoring of %s: permission denied: the AWS identity in use needs logs:GetLogEvents on log group %s: %w", r.Instance, LogGroup, err)
		}
	}
	return fmt.Errorf("enhanced monitoring of %s: CloudWatch Logs GetLogEvents on %s/%s: %w", r.Instance, LogGroup, r.ResourceID, err)
}
