// Package rds gets PostgreSQL's log files out of RDS and Aurora, where
// nobody can read the server's disk, for pgrehearse fetch-logs, ahead of
// the parse stage: it lists an instance's log files for a window
// (DescribeDBLogFiles) and downloads each whole (DownloadDBLogFilePortion,
// every portion), resuming where an earlier, interrupted download
// stopped, so parse can read them.
package rds

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	smithy "github.com/aws/smithy-go"

	"github.com/pgrehearse/pgrehearse/internal/awsconf"
)

// API is the part of the RDS client the fetcher uses.
type API interface {
	DescribeDBLogFiles(ctx context.Context, in *rds.DescribeDBLogFilesInput, opt ...func(*rds.Options)) (*rds.DescribeDBLogFilesOutput, error)
	DownloadDBLogFilePortion(ctx context.Context, in *rds.DownloadDBLogFilePortionInput, opt ...func(*rds.Options)) (*rds.DownloadDBLogFilePortionOutput, error)
}

// NewClient makes an RDS client from the default AWS configuration
// (credential chain, profiles, SSO, AWS_REGION, AWS_ENDPOINT_URL_RDS).
func NewClient(ctx context.Context, region, profile string) (API, error) {
	cfg, err := awsconf.Load(ctx, region, profile)
	if err != nil {
		return nil, err
	}
	return rds.NewFromConfig(cfg), nil
}

// File is one log file of the instance.
type File struct {
	Name        string
	LastWritten time.Time
	Size        int64
}

// Fetcher downloads one instance's logs.
type Fetcher struct {
	Client   API
	Instance string
	// Dir receives the files, named as on the instance without "error/".
	Dir string
	// Progress, when set, is told each portion's bytes.
	Progress func(file string, n int)
}

// List returns the instance's log files that may hold entries between
// begin and end: written to at or after begin, and (when the name says
// when the file starts) started before end.
func (f *Fetcher) List(ctx context.Context, begin, end time.Time) ([]File, error) {
	in := &rds.DescribeDBLogFilesInput{DBInstanceIdentifier: aws.String(f.Instance), FileLastWritten: aws.Int64(begin.UnixMilli())}
	var out []File
	for {
		resp, err := f.Client.DescribeDBLogFiles(ctx, in)
		if err != nil {
			return nil, f.explain("list log files", err)
		}
		for _, d := range resp.DescribeDBLogFiles {
			name := aws.ToString(d.LogFileName)
			if st, ok := nameStart(name); ok && !end.IsZero() && st.After(end) {
				continue
			}
			out = append(out, File{Name: name, LastWritten: time.UnixMilli(aws.ToInt64(d.LastWritten)).UTC(), Size: aws.ToInt64(d.Size)})
		}
		if aws.ToString(resp.Marker) == "" {
			break
		}
		in.Marker = resp.Marker
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// nameStart reads the hour (or minute) a log file starts from its name:
// error/postgresql.log.2026-11-22-10 or ...-1030.
func nameStart(name string) (time.Time, bool) {
	i := strings.LastIndex(name, ".log.")
	if i < 0 {
		return time.Time{}, false
	}
	s := name[i+5:]
	for _, layout := range []string{"2006-01-02-15", "2006-01-02-1504"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// Fetch downloads every file List returns and gives their local paths.
func (f *Fetcher) Fetch(ctx context.Context, begin, end time.Time) ([]string, error) {
	files, err := f.List(ctx, begin, end)
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("rds instance %s has no log files written between %s and %s: check the window (UTC) and the instance's log retention (rds.log_retention_period)",
			f.Instance, begin.UTC().Format(time.RFC3339), end.UTC().Format(time.RFC3339))
	}
	if err := os.MkdirAll(f.Dir, 0o700); err != nil {
		return nil, err
	}
	var paths []string
	for _, file := range files {
		p, err := f.download(ctx, file.Name)
		if err != nil {
			return paths, err
		}
		paths = append(paths, p)
	}
	return paths, nil
}

// download fetches one file into Dir. It writes NAME.part and records the
// marker reached in NAME.marker after each portion, so a second run picks
// up where an interrupted one stopped; NAME appears only when complete.
func (f *Fetcher) download(ctx context.Context, name string) (string, error) {
	local := filepath.Join(f.Dir, strings.ReplaceAll(strings.TrimPrefix(name, "error/"), "/", "_"))
	if _, err := os.Stat(local); err == nil {
		return local, nil
	}
	part, markerFile := local+".part", local+".marker"
	marker, size := "0", int64(0)
	if b, err := os.ReadFile(markerFile); err == nil {
		if m, n, ok := strings.Cut(strings.TrimSpace(string(b)), " "); ok {
			if v, err := strconv.ParseInt(n, 10, 64); err == nil {
				marker, size = m, v
			}
		}
	}
	// Logs are production data: private, whatever the umask.
	out, err := os.OpenFile(part, os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return "", err
	}
	defer out.Close()
	// Drop what was written after the last recorded marker.
	if err := out.Truncate(size); err != nil {
		return "", err
	}
	if _, err := out.Seek(size, io.SeekStart); err != nil {
		return "", err
	}
	for {
		resp, err := f.Client.DownloadDBLogFilePortion(ctx, &rds.DownloadDBLogFilePortionInput{
			DBInstanceIdentifier: aws.String(f.Instance), LogFileName: aws.String(name), Marker: aws.String(marker)})
		if err != nil {
			return "", f.explain("download "+name+" (run again to resume)", err)
		}
		data := aws.ToString(resp.LogFileData)
		if _, err := io.WriteString(out, data); err != nil {
			return "", err
		}
		size += int64(len(data))
		if f.Progress != nil {
			f.Progress(name, len(data))
		}
		next := aws.ToString(resp.Marker)
		if !aws.ToBool(resp.AdditionalDataPending) || next == "" {
			break
		}
		marker = next
		if err := os.WriteFile(markerFile, []byte(marker+" "+strconv.FormatInt(size, 10)+"\n"), 0o600); err != nil {
			return "", err
		}
	}
	if err := out.Chmod(0o600); err != nil {
		return "", err
	}
	if err := out.Sync(); err != nil {
		return "", err
	}
	if err := out.Close(); err != nil {
		return "", err
	}
	if err := os.Rename(part, local); err != nil {
		return "", err
	}
	os.Remove(markerFile)
	return local, nil
}

func (f *Fetcher) explain(doing string, err error) error {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "DBInstanceNotFound", "DBInstanceNotFoundFault":
			return fmt.Errorf("rds: %s: no instance %q in this account and region (Aurora: name an instance of the cluster, not the cluster)", doing, f.Instance)
		case "AccessDenied", "AccessDeniedException":
			return fmt.Errorf("rds: %s: permission denied: the AWS identity in use needs rds:DescribeDBLogFiles and rds:DownloadDBLogFilePortion: %w", doing, err)
		}
	}
	return fmt.Errorf("rds: %s: %w", doing, err)
}
