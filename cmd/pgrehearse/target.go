package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// systemIdentifier returns a cluster's system_identifier: the same for a
// primary and its physical replicas and snapshots restored in place, new
// for every initdb (and for an Aurora clone or RDS restore, which is what
// a candidate usually is).
func systemIdentifier(ctx context.Context, dsn string) (string, error) {
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		return "", usagef("%v", err)
	}
	c, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		return "", fmt.Errorf("connect: %w", err)
	}
	defer c.Close(ctx)
	return querySystemIdentifier(ctx, c)
}

func querySystemIdentifier(ctx context.Context, c *pgconn.PgConn) (string, error) {
	res, err := c.Exec(ctx, "SELECT system_identifier::text FROM pg_control_system()").ReadAll()
	if err != nil {
		return "", fmt.Errorf("read system_identifier: %w", err)
	}
	if len(res) != 1 || len(res[0].Rows) != 1 {
		return "", fmt.Errorf("read system_identifier: no row")
	}
	return string(res[0].Rows[0][0]), nil
}

// readPasswordFile reads "user:password" lines (# starts a comment), so
// passwords for the target never appear on a command line.
func readPasswordFile(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--password-file: %w", err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Mode().Perm()&0o077 != 0 {
		fmt.Fprintf(os.Stderr, "pgrehearse: warning: %s is readable by other users; chmod 600 it\n", path)
	}
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	line := 0
	for sc.Scan() {
		line++
		t := strings.TrimSpace(sc.Text())
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		user, pw, ok := strings.Cut(t, ":")
		if !ok || user == "" {
			// The line's content is a secret: name the line only.
			return nil, usagef("--password-file %s:%d: want user:password", path, line)
		}
		out[user] = pw
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("--password-file %s: %w", path, err)
	}
	return out, nil
}
