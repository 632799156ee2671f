package rds

import (
	"context"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeRDS speaks the RDS API's protocol (AWS query: form-encoded POST,
// XML answers) for DescribeDBLogFiles and DownloadDBLogFilePortion,
// serving files in portions of a few lines.
type fakeRDS struct {
	t       *testing.T
	files   map[string]string // name → content
	written map[string]time.Time
	portion int // lines per portion
	mu      sync.Mutex
	markers []string // markers asked for, "name@marker"
}

func (f *fakeRDS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		f.t.Errorf("the RDS client no longer sends AWS query requests: %s %s", r.Method, r.Header.Get("Content-Type"))
	}
	r.ParseForm()
	if r.Form.Get("DBInstanceIdentifier") != "prod-db" {
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `<ErrorResponse><Error><Type>Sender</Type><Code>DBInstanceNotFound</Code><Message>DBInstance not found</Message></Error><RequestId>1</RequestId></ErrorResponse>`)
		return
	}
	switch r.Form.Get("Action") {
	case "DescribeDBLogFiles":
		since, _ := strconv.ParseInt(r.Form.Get("FileLastWritten"), 10, 64)
		var b strings.Builder
		b.WriteString(`<DescribeDBLogFilesResponse><DescribeDBLogFilesResult><DescribeDBLogFiles>`)
		for name, content := range f.files {
			if f.written[name].UnixMilli() < since {
				continue
			}
			fmt.Fprintf(&b, `<DescribeDBLogFilesDetails><LogFileName>%s</LogFileName><LastWritten>%d</LastWritten><Size>%d</Size></DescribeDBLogFilesDetails>`, name, f.written[name].UnixMilli(), len(content))
		}
		b.WriteString(`</DescribeDBLogFiles></DescribeDBLogFilesResult></DescribeDBLogFilesResponse>`)
		w.Write([]byte(b.String()))
	case "DownloadDBLogFilePortion":
		name := r.Form.Get("LogFileName")
		content, ok := f.files[name]
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `<ErrorResponse><Error><Type>Sender</Type><Code>DBLogFileNotFoundFault</Code><Message>no such file</Message></Error></ErrorResponse>`)
			return
		}
		marker := r.Form.Get("Marker")
		f.mu.Lock()
		f.markers = append(f.markers, name+"@"+marker)
		f.mu.Unlock()
		from, _ := strconv.Atoi(marker)
		lines := strings.SplitAfter(content, "\n")
		to := min(from+f.portion, len(lines))
		var data strings.Builder
		xml.EscapeText(&data, []byte(strings.Join(lines[from:to], "")))
		fmt.Fprintf(w, `<DownloadDBLogFilePortionResponse><DownloadDBLogFilePortionResult><LogFileData>%s</LogFileData><Marker>%d</Marker><AdditionalDataPending>%v</AdditionalDataPending></DownloadDBLogFilePortionResult></DownloadDBLogFilePortionResponse>`,
			data.String(), to, to < len(lines))
	default:
		f.t.Errorf("unexpected action %q", r.Form.Get("Action"))
	}
}

func startRDS(t *testing.T, f *fakeRDS) API {
	f.t = t
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	t.Setenv("AWS_ENDPOINT_URL_RDS", srv.URL)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_CONFIG_FILE", "/nonexistent/config")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	c, err := NewClient(context.Background(), "eu-west-1", "")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func logLines(hour, n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "2026-11-22 %02d:%02d:00 UTC:10.0.0.1(5432):app@db:[%d]:LOG:  statement: SELECT %d <> 'x&y'\n", hour, i%60, 100+i, i)
	}
	return b.String()
}

func newFake() *fakeRDS {
	day := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	return &fakeRDS{portion: 7,
		files: map[string]string{"error/postgresql.log.2026-11-22-09": logLines(9, 20), "error/postgresql.log.2026-11-22-10": logLines(10, 50),
			"error/postgresql.log.2026-11-22-11": logLines(11, 30), "error/postgresql.log.2026-11-22-12": logLines(12, 5)},
		written: map[string]time.Time{"error/postgresql.log.2026-11-22-09": day.Add(10 * time.Hour), "error/postgresql.log.2026-11-22-10": day.Add(11 * time.Hour),
			"error/postgresql.log.2026-11-22-11": day.Add(12 * time.Hour), "error/postgresql.log.2026-11-22-12": day.Add(12*time.Hour + 5*time.Minute)}}
}

// TestFetchWindow downloads the files of 10:00–11:30 whole, through every
// portion, byte for byte.
func TestFetchWindow(t *testing.T) {
	f := newFake()
	c := startRDS(t, f)
	dir := t.TempDir()
	fe := &Fetcher{Client: c, Instance: "prod-db", Dir: dir}
	begin, end := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC), time.Date(2026, 11, 22, 11, 30, 0, 0, time.UTC)
	paths, err := fe.Fetch(context.Background(), begin, end)
	if err != nil {
		t.Fatal(err)
	}
	// 09 was last written at 10:00 (it holds up to 10:00), 10 and 11
	// overlap the window, 12 starts after it.
	want := []string{"postgresql.log.2026-11-22-09", "postgresql.log.2026-11-22-10", "postgresql.log.2026-11-22-11"}
	if len(paths) != len(want) {
		t.Fatalf("paths %v, want %v", paths, want)
	}
	for i, p := range paths {
		if filepath.Base(p) != want[i] {
			t.Errorf("path %d = %s, want %s", i, p, want[i])
		}
		// Production logs are private, whatever the umask.
		if st, err := os.Stat(p); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v (%v), want 0600", p, st.Mode().Perm(), err)
		}
		got, _ := os.ReadFile(p)
		if string(got) != f.files["error/"+want[i]] {
			t.Errorf("%s differs from the instance's file (%d vs %d bytes)", p, len(got), len(f.files["error/"+want[i]]))
		}
	}
	if leftovers, _ := filepath.Glob(filepath.Join(dir, "*.part")); len(leftovers) != 0 {
		t.Errorf("partial files left: %v", leftovers)
	}
}

// TestResume: a download interrupted mid-file goes on from its last
// marker on the next run instead of starting over.
func TestResume(t *testing.T) {
	f := newFake()
	c := startRDS(t, f)
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	portions := 0
	fe := &Fetcher{Client: c, Instance: "prod-db", Dir: dir, Progress: func(file string, n int) {
		if strings.HasSuffix(file, "-10") {
			if portions++; portions == 3 {
				cancel()
			}
		}
	}}
	begin, end := time.Date(2026, 11, 22, 10, 30, 0, 0, time.UTC), time.Date(2026, 11, 22, 11, 30, 0, 0, time.UTC)
	if _, err := fe.Fetch(ctx, begin, end); err == nil {
		t.Fatal("interrupted fetch reported success")
	}
	f.markers = nil
	fe.Progress = nil
	paths, err := fe.Fetch(context.Background(), begin, end)
	if err != nil {
		t.Fatal(err)
	}
	if f.markers[0] != "error/postgresql.log.2026-11-22-10@14" && f.markers[0] != "error/postgresql.log.2026-11-22-10@21" {
		t.Errorf("resumed at %s, want a later marker of the -10 file", f.markers[0])
	}
	for _, p := range paths {
		got, _ := os.ReadFile(p)
		if string(got) != f.files["error/"+filepath.Base(p)] {
			t.Errorf("%s differs after resuming", p)
		}
	}
}

func TestErrors(t *testing.T) {
	f := newFake()
	c := startRDS(t, f)
	fe := &Fetcher{Client: c, Instance: "typo-db", Dir: t.TempDir()}
	if _, err := fe.Fetch(context.Background(), time.Now().Add(-time.Hour), time.Now()); err == nil || !strings.Contains(err.Error(), `no instance "typo-db"`) {
		t.Errorf("unknown instance: %v", err)
	}
	fe.Instance = "prod-db"
	if _, err := fe.Fetch(context.Background(), time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2027, 1, 1, 1, 0, 0, 0, time.UTC)); err == nil || !strings.Contains(err.Error(), "no log files") {
		t.Errorf("empty window: %v", err)
	}
}
