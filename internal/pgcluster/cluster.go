// Package pgcluster starts and stops throwaway local PostgreSQL clusters
// from the installed server binaries. Tests use it for real servers with
// any logging settings; the local demo uses it for a baseline and a
// candidate cluster.
//
// initdb and postgres refuse to run as root. When the process is root the
// binaries run as the "postgres" OS user (created if missing) with a data
// directory it owns, which is how these tools run in containers and CI.
package pgcluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ErrNoBinaries is wrapped by FindBinDir's error.
var ErrNoBinaries = errors.New("PostgreSQL server binaries not found")

// FindBinDir returns the directory of initdb, pg_ctl and postgres:
// $PGREHEARSE_PG_BIN, else initdb on PATH, else the newest
// /usr/lib/postgresql/*/bin.
func FindBinDir() (string, error) {
	if d := os.Getenv("PGREHEARSE_PG_BIN"); d != "" {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err != nil {
			return "", fmt.Errorf("%w in PGREHEARSE_PG_BIN=%s: no initdb there (point it at the directory holding initdb, or unset it to use the installed postgresql package)", ErrNoBinaries, d)
		}
		return d, nil
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		return filepath.Dir(p), nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	return "", fmt.Errorf("%w: install them (Debian/Ubuntu: apt-get install postgresql) or set PGREHEARSE_PG_BIN to the directory holding initdb", ErrNoBinaries)
}

func version(dir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
	return v
}

// Options configures a cluster.
type Options struct {
	// Dir is a parent directory for the cluster; a temporary one is made
	// when empty.
	Dir string
	// Name names the cluster's directory inside Dir ("primary").
	Name string
	// Port to listen on at 127.0.0.1; 0 picks a free one.
	Port int
	// Settings are postgresql.conf lines appended after initdb's.
	Settings []string
	// BinDir holds the server binaries; FindBinDir when empty.
	BinDir string
	// Keep leaves the directory in place after Stop.
	Keep bool
}

// Cluster is a running throwaway cluster.
type Cluster struct {
	opt     Options
	bin     string
	dir     string // the cluster's own directory (data dir parent)
	data    string
	port    int
	owned   bool // dir was made by Start
	asUser  string
	mu      sync.Mutex
	stopped bool
}

// Start initialises and starts a cluster.
func Start(ctx context.Context, opt Options) (*Cluster, error) {
	c := &Cluster{opt: opt}
	var err error
	if c.bin, err = binDir(opt.BinDir); err != nil {
		return nil, err
	}
	if err := c.makeDir(); err != nil {
		return nil, err
	}
	if out, err := c.run(ctx, "initdb", "-D", c.data, "-E", "UTF8", "--locale=C.UTF-8", "--auth=trust", "-U", "postgres", "--no-sync"); err != nil {
		c.cleanup()
		return nil, fmt.Errorf("initdb: %w\n%s", err, tail(out))
	}
	if err := c.configure(); err != nil {
		c.cleanup()
		return nil, err
	}
	if err := c.start(ctx); err != nil {
		c.cleanup()
		return nil, err
	}
	return c, nil
}

func binDir(d string) (string, error) {
	if d != "" {
		return d, nil
	}
	return FindBinDir()
}

func (c *Cluster) makeDir() error {
	parent := c.opt.Dir
	if parent == "" {
		d, err := os.MkdirTemp("", "pgrehearse-pg-")
		if err != nil {
			return err
		}
		parent, c.owned = d, true
	}
	name := c.opt.Name
	if name == "" {
		name = "cluster"
	}
	c.dir = filepath.Join(parent, name)
	c.data = filepath.Join(c.dir, "data")
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return err
	}
	if os.Geteuid() == 0 {
		c.asUser = "postgres"
		if err := ensureUser(c.asUser); err != nil {
			return err
		}
		// The server user must reach its directory through the parents.
		for d := c.dir; d != "/" && d != "."; d = filepath.Dir(d) {
			if st, err := os.Stat(d); err == nil && st.Mode().Perm()&0o001 == 0 {
				os.Chmod(d, st.Mode().Perm()|0o011)
			}
		}
		u, err := user.Lookup(c.asUser)
		if err != nil {
			return err
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(c.dir, uid, gid); err != nil {
			return err
		}
	}
	return nil
}

func ensureUser(name string) error {
	if _, err := user.Lookup(name); err == nil {
		return nil
	}
	out, err := exec.Command("useradd", "--system", "--no-create-home", "--shell", "/bin/false", name).CombinedOutput()
	if err != nil {
		return fmt.Errorf("create OS user %s to run PostgreSQL (root may not): %v: %s", name, err, out)
	}
	return nil
}

// run runs a server binary, as the postgres user when we are root.
func (c *Cluster) run(ctx context.Context, prog string, args ...string) ([]byte, error) {
	path := filepath.Join(c.bin, prog)
	var cmd *exec.Cmd
	if c.asUser != "" {
		cmd = exec.CommandContext(ctx, "runuser", append([]string{"-u", c.asUser, "--", path}, args...)...)
	} else {
		cmd = exec.CommandContext(ctx, path, args...)
	}
	cmd.Dir = c.dir
	cmd.Env = append(os.Environ(), "LC_ALL=C.UTF-8")
	return cmd.CombinedOutput()
}

func (c *Cluster) configure() error {
	port := c.opt.Port
	if port == 0 {
		var err error
		if port, err = freePort(); err != nil {
			return err
		}
	}
	c.port = port
	conf := []string{
		"", "# added by pgrehearse for a throwaway cluster",
		"listen_addresses = '127.0.0.1'",
		fmt.Sprintf("port = %d", port),
		"unix_socket_directories = ''",
		"fsync = off", "synchronous_commit = off", "full_page_writes = off",
		"max_connections = 200", "shared_buffers = 64MB",
		"wal_level = replica", "max_wal_senders = 10", "hot_standby = on",
		"log_destination = 'stderr'", "logging_collector = on", "log_directory = 'log'",
		"log_filename = 'postgresql.log'", "lc_messages = 'C'",
	}
	conf = append(conf, c.opt.Settings...)
	return c.appendConf(conf)
}

func (c *Cluster) appendConf(lines []string) error {
	f, err := os.OpenFile(filepath.Join(c.data, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("configure cluster: %w", err)
	}
	_, err = f.WriteString(strings.Join(lines, "\n") + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (c *Cluster) start(ctx context.Context) error {
	out, err := c.run(ctx, "pg_ctl", "-D", c.data, "-w", "-t", "60", "-l", filepath.Join(c.dir, "startup.log"), "start")
	if err != nil {
		return fmt.Errorf("start PostgreSQL on port %d: %w\n%s%s", c.port, err, tail(out), c.logTail())
	}
	c.mu.Lock()
	c.stopped = false
	c.mu.Unlock()
	return nil
}

func (c *Cluster) logTail() string {
	var b bytes.Buffer
	for _, f := range []string{filepath.Join(c.dir, "startup.log"), filepath.Join(c.LogDir(), "postgresql.log")} {
		if data, err := os.ReadFile(f); err == nil {
			b.WriteString(tail(data))
		}
	}
	return b.String()
}

func tail(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 15 {
		lines = lines[len(lines)-15:]
	}
	return strings.Join(lines, "\n") + "\n"
}

// Port returns the TCP port on 127.0.0.1.
func (c *Cluster) Port() int { return c.port }

// DataDir returns the data directory.
func (c *Cluster) DataDir() string { return c.data }

// LogDir returns where the logging collector writes (log_directory = 'log').
func (c *Cluster) LogDir() string { return filepath.Join(c.data, "log") }

// DSN returns a libpq keyword/value connection string for user and
// database.
func (c *Cluster) DSN(user, db string) string {
	return fmt.Sprintf("host=127.0.0.1 port=%d user=%s dbname=%s sslmode=disable", c.port, user, db)
}

// Stop stops the server (fast shutdown) and leaves the files; calling it
// again does nothing.
func (c *Cluster) Stop(ctx context.Context) error { return c.stop(ctx, "fast") }

// StopSmart stops the server once every client has disconnected (smart
// shutdown, for at most a minute): sessions that are closing as it is
// called end with their own disconnection in the log, not with the
// shutdown's FATAL.
func (c *Cluster) StopSmart(ctx context.Context) error { return c.stop(ctx, "smart") }

func (c *Cluster) stop(ctx context.Context, mode string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return nil
	}
	out, err := c.run(ctx, "pg_ctl", "-D", c.data, "-m", mode, "-w", "-t", "60", "stop")
	if err != nil && !bytes.Contains(out, []byte("is the server running")) {
		return fmt.Errorf("stop PostgreSQL on port %d: %w\n%s", c.port, err, tail(out))
	}
	c.stopped = true
	return nil
}

// Restart stops and starts the server.
func (c *Cluster) Restart(ctx context.Context) error {
	if err := c.Stop(ctx); err != nil {
		return err
	}
	return c.start(ctx)
}

// Reload makes the server re-read its configuration.
func (c *Cluster) Reload(ctx context.Context) error {
	out, err := c.run(ctx, "pg_ctl", "-D", c.data, "reload")
	if err != nil {
		return fmt.Errorf("reload: %w\n%s", err, tail(out))
	}
	return nil
}

// Close stops the server and removes its files unless Options.Keep.
func (c *Cluster) Close(ctx context.Context) error {
	err := c.Stop(ctx)
	if !c.opt.Keep {
		c.cleanup()
	}
	return err
}

func (c *Cluster) cleanup() {
	if c.opt.Keep {
		return
	}
	if c.owned {
		os.RemoveAll(filepath.Dir(c.dir))
	} else {
		os.RemoveAll(c.dir)
	}
}

// StartReplica makes a streaming replica of c with pg_basebackup -R and
// starts it. opt.Dir defaults to c's parent directory.
func (c *Cluster) StartReplica(ctx context.Context, opt Options) (*Cluster, error) {
	return c.copyOf(ctx, opt, true)
}

// StartClone makes an independent primary from a base backup of c, as a
// cluster restored from a snapshot is, and starts it with opt.Settings
// appended: the same data, its own configuration.
func (c *Cluster) StartClone(ctx context.Context, opt Options) (*Cluster, error) {
	if opt.Name == "" {
		opt.Name = filepath.Base(c.dir) + "-clone"
	}
	return c.copyOf(ctx, opt, false)
}

func (c *Cluster) copyOf(ctx context.Context, opt Options, standby bool) (*Cluster, error) {
	if opt.Dir == "" {
		opt.Dir = filepath.Dir(c.dir)
	}
	if opt.Name == "" {
		opt.Name = filepath.Base(c.dir) + "-replica"
	}
	if opt.BinDir == "" {
		opt.BinDir = c.bin
	}
	r := &Cluster{opt: opt, bin: opt.BinDir}
	if err := r.makeDir(); err != nil {
		return nil, err
	}
	args := []string{"-h", "127.0.0.1", "-p", strconv.Itoa(c.port), "-U", "postgres", "-D", r.data, "-X", "stream", "--no-sync", "--checkpoint=fast"}
	if standby {
		args = append(args, "-R")
	}
	out, err := r.run(ctx, "pg_basebackup", args...)
	if err != nil {
		r.cleanup()
		return nil, fmt.Errorf("pg_basebackup: %w\n%s", err, tail(out))
	}
	if !standby {
		// The source's log belongs to the source.
		os.RemoveAll(filepath.Join(r.data, "log"))
	}
	port := opt.Port
	if port == 0 {
		if port, err = freePort(); err != nil {
			return nil, err
		}
	}
	r.port = port
	if err := r.appendConf(append([]string{fmt.Sprintf("port = %d", port)}, opt.Settings...)); err != nil {
		return nil, err
	}
	if err := r.start(ctx); err != nil {
		r.cleanup()
		return nil, err
	}
	return r, nil
}

// WaitReady polls until the server accepts TCP connections or ctx ends.
func (c *Cluster) WaitReady(ctx context.Context) error {
	for {
		conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", c.port), time.Second)
		if err == nil {
			conn.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
