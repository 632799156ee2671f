package cloudwatchtest

import (
	"fmt"
	"html"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// RDS speaks what the pinned SDK's RDS client sends for
// DescribeDBInstances and DescribeDBClusters: the AWS query protocol (a
// form-encoded POST to /, Action and Version=2014-10-31) answered in
// XML.
type RDS struct {
	// Instances are the known instances by identifier; any other is
	// answered as a community PostgreSQL instance with Enhanced
	// Monitoring and Performance Insights off, unless Strict.
	Instances map[string]Instance
	Strict    bool
	// Writers maps an Aurora cluster to its writer instance; an unknown
	// cluster's writer is CLUSTER-instance-1.
	Writers map[string]string
	// FailType answers every request with this error code.
	FailType string

	t        testing.TB
	mu       sync.Mutex
	Requests int
	Actions  []string
}

// Instance is what DescribeDBInstances says of one instance.
type Instance struct {
	ResourceID          string
	Engine              string
	MonitoringInterval  int
	PerformanceInsights bool
}

// ResourceID is the DbiResourceId the fake gives an instance it was not
// told about.
func ResourceID(instance string) string {
	return "db-" + strings.ToUpper(strings.NewReplacer("-", "", "_", "").Replace(instance)) + "RESOURCEID"
}

func (f *RDS) start(t testing.TB) http.Handler { f.t = t; return f }

func (f *RDS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Requests++
	r.ParseForm()
	if r.Method != http.MethodPost || r.URL.Path != "/" || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" || r.Form.Get("Version") != "2014-10-31" {
		f.t.Errorf("the RDS client no longer sends AWS query requests: %s %s Content-Type=%q Version=%q", r.Method, r.URL.Path, r.Header.Get("Content-Type"), r.Form.Get("Version"))
		http.Error(w, "unexpected protocol", http.StatusBadRequest)
		return
	}
	signedFor(f.t, r, "rds")
	action := r.Form.Get("Action")
	f.Actions = append(f.Actions, action)
	if f.FailType != "" {
		f.fail(w, http.StatusForbidden, f.FailType, "User: arn:aws:iam::1:user/x is not authorized to perform: rds:"+action)
		return
	}
	switch action {
	case "DescribeDBInstances":
		id := r.Form.Get("DBInstanceIdentifier")
		in, ok := f.Instances[id]
		if !ok && f.Strict {
			f.fail(w, http.StatusNotFound, "DBInstanceNotFound", "DBInstance "+id+" not found.")
			return
		}
		if in.ResourceID == "" {
			in.ResourceID = ResourceID(id)
		}
		if in.Engine == "" {
			in.Engine = "postgres"
		}
		fmt.Fprintf(w, `<DescribeDBInstancesResponse xmlns="http://rds.amazonaws.com/doc/2014-10-31/"><DescribeDBInstancesResult><DBInstances><DBInstance>`+
			`<DBInstanceIdentifier>%s</DBInstanceIdentifier><DbiResourceId>%s</DbiResourceId><Engine>%s</Engine><MonitoringInterval>%d</MonitoringInterval>`+
			`<PerformanceInsightsEnabled>%t</PerformanceInsightsEnabled></DBInstance></DBInstances></DescribeDBInstancesResult>`+
			`<ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></DescribeDBInstancesResponse>`,
			html.EscapeString(id), html.EscapeString(in.ResourceID), html.EscapeString(in.Engine), in.MonitoringInterval, in.PerformanceInsights)
	case "DescribeDBClusters":
		c := r.Form.Get("DBClusterIdentifier")
		writer, ok := f.Writers[c]
		if !ok {
			writer = c + "-instance-1"
		}
		fmt.Fprintf(w, `<DescribeDBClustersResponse xmlns="http://rds.amazonaws.com/doc/2014-10-31/"><DescribeDBClustersResult><DBClusters><DBCluster>`+
			`<DBClusterIdentifier>%s</DBClusterIdentifier><DBClusterMembers>`+
			`<DBClusterMember><DBInstanceIdentifier>%s-reader</DBInstanceIdentifier><IsClusterWriter>false</IsClusterWriter></DBClusterMember>`+
			`<DBClusterMember><DBInstanceIdentifier>%s</DBInstanceIdentifier><IsClusterWriter>true</IsClusterWriter></DBClusterMember>`+
			`</DBClusterMembers></DBCluster></DBClusters></DescribeDBClustersResult><ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></DescribeDBClustersResponse>`,
			html.EscapeString(c), html.EscapeString(c), html.EscapeString(writer))
	default:
		f.t.Errorf("unexpected RDS action %q", action)
		f.fail(w, http.StatusBadRequest, "InvalidAction", action)
	}
}

func (f *RDS) fail(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<ErrorResponse xmlns="http://rds.amazonaws.com/doc/2014-10-31/"><Error><Type>Sender</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>1</RequestId></ErrorResponse>`,
		html.EscapeString(code), html.EscapeString(msg))
}
