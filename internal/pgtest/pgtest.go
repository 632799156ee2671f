// Package pgtest gives tests a real PostgreSQL server: the one named by
// PGREHEARSE_TEST_DSN, or throwaway clusters started from the installed
// binaries. Integration tests fail, never skip, when neither is possible.
package pgtest

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/pgrehearse/pgrehearse/internal/pgcluster"
)

var (
	once    sync.Once
	shared  *pgcluster.Cluster
	dsn     string
	initErr error
)

// Run runs the tests of a package and stops the shared cluster after
// them. Use it from TestMain: os.Exit(pgtest.Run(m)).
func Run(m *testing.M) int {
	code := m.Run()
	if shared != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		shared.Close(ctx)
		cancel()
	}
	return code
}

// M wraps m for goleak.VerifyTestMain, which then looks for leaked
// goroutines after the tests ran and the shared cluster stopped:
//
//	func TestMain(m *testing.M) { goleak.VerifyTestMain(pgtest.M(m)) }
func M(m *testing.M) interface{ Run() int } { return withCluster{m} }

type withCluster struct{ m *testing.M }

func (w withCluster) Run() int { return Run(w.m) }

// DSN returns the connection string of the shared test server (superuser
// postgres, database postgres), starting it on first use.
func DSN(t testing.TB) string {
	t.Helper()
	once.Do(func() {
		if d := os.Getenv("PGREHEARSE_TEST_DSN"); d != "" {
			dsn = d
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		shared, initErr = pgcluster.Start(ctx, pgcluster.Options{Name: "shared"})
		if initErr == nil {
			dsn = shared.DSN("postgres", "postgres")
		}
	})
	if initErr != nil {
		t.Fatalf("no PostgreSQL for the integration tests: %v (set PGREHEARSE_TEST_DSN, or install postgresql)", initErr)
	}
	return dsn
}

// StartCluster starts a dedicated cluster with extra postgresql.conf
// settings for one test; it is removed when the test ends.
func StartCluster(t testing.TB, settings ...string) *pgcluster.Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := pgcluster.Start(ctx, pgcluster.Options{Settings: settings})
	if err != nil {
		t.Fatalf("start a PostgreSQL cluster for this test: %v (install postgresql or set PGREHEARSE_PG_BIN)", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := c.Close(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "pgtest:", err)
		}
	})
	return c
}
