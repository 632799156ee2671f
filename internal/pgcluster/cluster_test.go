package pgcluster

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestPrimaryAndReplica(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	p, err := Start(ctx, Options{Name: "primary"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(ctx)
	r, err := p.StartReplica(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(ctx)
	if r.Port() == p.Port() {
		t.Fatal("replica shares the primary's port")
	}
	pc, err := pgx.Connect(ctx, p.DSN("postgres", "postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close(ctx)
	if _, err := pc.Exec(ctx, "CREATE TABLE streamed (v text); INSERT INTO streamed VALUES ('hello')"); err != nil {
		t.Fatal(err)
	}
	rc, err := pgx.Connect(ctx, r.DSN("postgres", "postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close(ctx)
	var inRecovery bool
	if err := rc.QueryRow(ctx, "SELECT pg_is_in_recovery()").Scan(&inRecovery); err != nil || !inRecovery {
		t.Fatalf("replica in recovery = %v, %v", inRecovery, err)
	}
	// The row written on the primary reaches the replica by streaming.
	deadline := time.Now().Add(30 * time.Second)
	for {
		var v string
		err := rc.QueryRow(ctx, "SELECT v FROM streamed").Scan(&v)
		if err == nil && v == "hello" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("row never reached the replica: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// A clone has the same data but is a primary of its own with its own
	// settings, like a cluster restored from a snapshot.
	cl, err := p.StartClone(ctx, Options{Settings: []string{"shared_buffers = 16MB"}})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close(ctx)
	cc, err := pgx.Connect(ctx, cl.DSN("postgres", "postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close(ctx)
	var v, sb string
	if err := cc.QueryRow(ctx, "SELECT v, current_setting('shared_buffers'), pg_is_in_recovery() FROM streamed").Scan(&v, &sb, &inRecovery); err != nil || v != "hello" || sb != "16MB" || inRecovery {
		t.Fatalf("clone: %q %q recovery=%v %v", v, sb, inRecovery, err)
	}
	if _, err := cc.Exec(ctx, "INSERT INTO streamed VALUES ('clone only')"); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := pc.QueryRow(ctx, "SELECT count(*) FROM streamed").Scan(&n); err != nil || n != 1 {
		t.Fatalf("the clone's write reached the primary: %d %v", n, err)
	}
	if err := p.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.Stop(ctx); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
}

func TestMissingBinaries(t *testing.T) {
	t.Setenv("PGREHEARSE_PG_BIN", t.TempDir())
	_, err := FindBinDir()
	if !errors.Is(err, ErrNoBinaries) {
		t.Fatalf("FindBinDir in an empty directory: %v", err)
	}
	_, err = Start(context.Background(), Options{})
	if !errors.Is(err, ErrNoBinaries) {
		t.Fatalf("Start without binaries: %v", err)
	}
}

// TestStopSmartWaitsForClients: a smart stop waits for the open session
// to end, and the session ends without the shutdown's FATAL.
func TestStopSmartWaitsForClients(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := Start(ctx, Options{Settings: []string{"log_disconnections = on"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	conn, err := pgx.Connect(ctx, c.DSN("postgres", "postgres"))
	if err != nil {
		t.Fatal(err)
	}
	stopped := make(chan error, 1)
	go func() { stopped <- c.StopSmart(ctx) }()
	select {
	case err := <-stopped:
		t.Fatalf("StopSmart returned (%v) while a client was connected", err)
	case <-time.After(700 * time.Millisecond):
	}
	if _, err := conn.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatalf("the open session stopped working during a smart shutdown: %v", err)
	}
	conn.Close(ctx)
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	log, err := os.ReadFile(filepath.Join(c.LogDir(), "postgresql.log"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(log), "FATAL") || !strings.Contains(string(log), "disconnection: session time") {
		t.Errorf("the session did not end by its own disconnection:\n%s", log)
	}
}
