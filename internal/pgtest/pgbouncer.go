package pgtest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pgrehearse/pgrehearse/internal/pgcluster"
)

// PgBouncer is a pgbouncer (Debian's package) started for one test in
// front of a cluster, on loopback.
type PgBouncer struct {
	Port int
	Log  string
}

// DSN returns a connection string through the pooler.
func (b *PgBouncer) DSN(user, db string) string {
	return fmt.Sprintf("host=127.0.0.1 port=%d user=%s dbname=%s sslmode=disable", b.Port, user, db)
}

// StartPgBouncer starts pgbouncer in front of c with pool_mode mode
// ("session", "transaction" or "statement"), trusting users (postgres is
// always among them). It is stopped when the test ends. The test fails,
// never skips, when pgbouncer is not installed (apt-get install
// pgbouncer).
func StartPgBouncer(t testing.TB, c *pgcluster.Cluster, mode string, users ...string) *PgBouncer {
	t.Helper()
	bin, err := exec.LookPath("pgbouncer")
	if err != nil {
		for _, p := range []string{"/usr/sbin/pgbouncer", "/usr/bin/pgbouncer"} {
			if _, err2 := os.Stat(p); err2 == nil {
				bin, err = p, nil
				break
			}
		}
	}
	if err != nil {
		t.Fatalf("pgbouncer is not installed (apt-get install pgbouncer): %v", err)
	}
	dir := t.TempDir()
	port, err := freeLoopbackPort()
	if err != nil {
		t.Fatal(err)
	}
	var auth strings.Builder
	for _, u := range append([]string{"postgres"}, users...) {
		fmt.Fprintf(&auth, "%q \"\"\n", u)
	}
	b := &PgBouncer{Port: port, Log: filepath.Join(dir, "pgbouncer.log")}
	ini := strings.Join([]string{
		"[databases]",
		fmt.Sprintf("* = host=127.0.0.1 port=%d", c.Port()),
		"[pgbouncer]",
		"listen_addr = 127.0.0.1",
		fmt.Sprintf("listen_port = %d", port),
		"unix_socket_dir =",
		"auth_type = trust",
		"auth_file = " + filepath.Join(dir, "users.txt"),
		"pool_mode = " + mode,
		"max_client_conn = 1000",
		"default_pool_size = 20",
		"logfile = " + b.Log,
		"pidfile = " + filepath.Join(dir, "pgbouncer.pid"),
	}, "\n") + "\n"
	for name, content := range map[string]string{"pgbouncer.ini": ini, "users.txt": auth.String()} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(bin, filepath.Join(dir, "pgbouncer.ini"))
	if os.Geteuid() == 0 {
		// pgbouncer refuses to run as root.
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("pgbouncer: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		// The postgres user must reach its files through the parents.
		for d := dir; d != "/" && d != "."; d = filepath.Dir(d) {
			if st, err := os.Stat(d); err == nil && st.Mode().Perm()&0o001 == 0 {
				os.Chmod(d, st.Mode().Perm()|0o011)
			}
		}
		for _, f := range []string{"pgbouncer.ini", "users.txt"} {
			os.Chown(filepath.Join(dir, f), uid, gid)
		}
		os.Chown(dir, uid, gid)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	}
	// A file, not a pipe: Wait must not wait for anyone holding it.
	out, err := os.Create(filepath.Join(dir, "stdout.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start pgbouncer: %v", err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		// SIGTERM: immediate shutdown (SIGINT would wait for clients).
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			conn.Close()
			return b
		}
		select {
		case <-exited:
			log, _ := os.ReadFile(b.Log)
			o, _ := os.ReadFile(out.Name())
			t.Fatalf("pgbouncer exited: %v\n%s%s", waitErr, o, log)
		case <-ctx.Done():
			t.Fatalf("pgbouncer did not listen on %d", port)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func freeLoopbackPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
