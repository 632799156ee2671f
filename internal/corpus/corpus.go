// Package corpus gives tests the real PostgreSQL 15 logs kept in
// testdata/corpus, decompressed.
package corpus

import (
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// Path returns the path of a file in testdata/corpus.
func Path(name string) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "testdata", "corpus", name)
}

// Load returns the decompressed contents of a gzipped corpus file.
func Load(tb testing.TB, name string) []byte {
	tb.Helper()
	f, err := os.Open(Path(name))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		tb.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// Manifest is the ground truth of a corpus log, the part the tests check
// (see testdata/corpus/README.md).
type Manifest struct {
	Connections struct {
		ClientSessions int64 `json:"client_sessions"`
	} `json:"connections"`
	Databases          []string `json:"databases"`
	Users              []string `json:"users"`
	ExpectedLogEntries struct {
		Statements struct {
			Value    int64 `json:"value"`
			Simple   int64 `json:"simple"`
			Extended int64 `json:"extended"`
		} `json:"statement_entries"`
		Params struct {
			Value int64 `json:"value"`
		} `json:"detail_parameters_entries"`
	} `json:"expected_log_entries"`
	Errors struct {
		Total      int64            `json:"total"`
		BySQLState map[string]int64 `json:"by_sqlstate"`
	} `json:"errors"`
	TimeWindow struct {
		FirstConnect   time.Time `json:"first_client_connect"`
		LastDisconnect time.Time `json:"last_client_disconnect"`
	} `json:"time_window"`
}

// LoadManifest reads the manifest of a corpus set ("A-stderr",
// "B-csvlog", "C-jsonlog").
func LoadManifest(tb testing.TB, set string) *Manifest {
	tb.Helper()
	b, err := os.ReadFile(Path(set + ".manifest.json"))
	if err != nil {
		tb.Fatal(err)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		tb.Fatal(err)
	}
	return &m
}
