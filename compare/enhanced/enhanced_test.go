package enhanced

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"

	"github.com/pgrehearse/pgrehearse/compare/metrics"
)

// pages is a CloudWatch Logs stand-in at the API's Go interface, for
// the paging rules alone; the wire protocol is tested through the real
// client in compare/cloudwatch.
type pages struct {
	msgs  [][]string
	calls int
}

func (p *pages) GetLogEvents(_ context.Context, in *cloudwatchlogs.GetLogEventsInput, _ ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.GetLogEventsOutput, error) {
	i := p.calls
	p.calls++
	out := &cloudwatchlogs.GetLogEventsOutput{NextForwardToken: aws.String("f/" + strings.Repeat("x", min(i+1, len(p.msgs))))}
	if i < len(p.msgs) {
		for _, m := range p.msgs[i] {
			out.Events = append(out.Events, types.OutputLogEvent{Message: aws.String(m)})
		}
	}
	return out, nil
}

// TestEventsPaging: an empty page in the middle does not end the read;
// the token coming back unchanged does; a damaged event is counted.
func TestEventsPaging(t *testing.T) {
	p := &pages{msgs: [][]string{
		{`{"engine":"POSTGRES","timestamp":"2026-11-22T12:00:01Z","cpuUtilization":{"total":10},"diskIO":[{"device":"nvme1n1","readIOsPS":1,"writeIOsPS":2},{"device":"nvme2n1","readIOsPS":3,"writeIOsPS":4}]}`},
		{},
		{`not json`, `{"engine":"POSTGRES","timestamp":"2026-11-22T12:00:02Z","cpuUtilization":{"total":20},"diskIO":[{"device":"nvme1n1","readIOsPS":5,"writeIOsPS":6},{"device":"nvme2n1","readIOsPS":7,"writeIOsPS":8}]}`},
	}}
	r := &Reader{Client: p, ResourceID: "db-X", Instance: "x"}
	w := metrics.Window{Start: time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC), End: time.Date(2026, 11, 22, 12, 0, 2, 0, time.UTC)}
	series, warnings, err := r.Fetch(context.Background(), w)
	if err != nil {
		t.Fatal(err)
	}
	if r.Calls != 4 || len(warnings) != 1 || !strings.Contains(warnings[0], "1 events") {
		t.Errorf("%d calls, warnings %v", r.Calls, warnings)
	}
	get := func(m string) *metrics.Series {
		for i := range series {
			if series[i].Metric == m {
				return &series[i]
			}
		}
		return nil
	}
	cpu := get(metrics.CPU)
	if cpu == nil || cpu.Period != time.Second || len(cpu.Points) != 2 || !cpu.Points[0].T.Equal(w.Start) || cpu.Points[1].V != 20 {
		t.Fatalf("cpu %+v (interval read from the events' spacing)", cpu)
	}
	// Without rdsdev or Aurora storage, read_iops is the devices' sum.
	rd := get(metrics.ReadIOPS)
	if rd == nil || rd.Points[0].V != 4 || rd.Points[1].V != 12 || !strings.Contains(strings.Join(rd.Caveats, " "), "sum of devices nvme1n1, nvme2n1") {
		t.Errorf("read_iops %+v", rd)
	}
	if d := get("write_iops:nvme2n1"); d == nil || d.Points[1].V != 8 {
		t.Errorf("write_iops:nvme2n1 %+v", d)
	}
}

// TestNoEvents: a stream without events in the window is ErrOff.
func TestNoEvents(t *testing.T) {
	r := &Reader{Client: &pages{}, ResourceID: "db-X", Instance: "x", Interval: time.Second}
	_, _, err := r.Fetch(context.Background(), metrics.Window{Start: time.Unix(0, 0), End: time.Unix(60, 0)})
	if !errors.Is(err, ErrOff) || !strings.Contains(err.Error(), "no events in log stream RDSOSMetrics/db-X") {
		t.Errorf("%v", err)
	}
}

// FuzzEvent: whatever a log stream holds, reading it as Enhanced
// Monitoring never panics, and a series never has more points than
// events.
func FuzzEvent(f *testing.F) {
	f.Add([]byte(`{"engine":"Aurora","timestamp":"2026-11-22T12:00:01Z","cpuUtilization":{"total":1.5},"diskIO":[{"readIOsPS":1,"writeIOsPS":2},{"device":"nvme1n1","readIOsPS":3}]}`))
	f.Add([]byte(`{"engine":"POSTGRES","timestamp":"2026-11-22T12:00:01Z","diskIO":[{"device":"rdsdev"},{"device":""}]}`))
	f.Add([]byte(`{"timestamp":"x"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var ev Event
		if json.Unmarshal(b, &ev) != nil || ev.Timestamp.IsZero() {
			return
		}
		for _, s := range Series([]Event{ev, ev}, time.Second, "RDSOSMetrics/x") {
			if len(s.Points) > 2 {
				t.Fatalf("%s: %d points from 2 events", s.Metric, len(s.Points))
			}
		}
	})
}
