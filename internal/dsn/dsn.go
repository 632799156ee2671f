// Package dsn says which PostgreSQL server a connection string names
// without saying its secrets: every message, results header and samples
// header that names a cluster goes through it, so a password given in a
// DSN, a URL or PGPASSWORD never reaches a terminal or a file.
package dsn

import (
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// Describe names the server, port, user and database of cfg, never its
// password.
func Describe(cfg *pgconn.Config) string {
	return fmt.Sprintf("host=%s port=%d user=%s database=%s", cfg.Host, cfg.Port, cfg.User, cfg.Database)
}

// Redact returns s, which may be a DSN or URL, described without its
// password; anything else is returned as it is.
func Redact(s string) string {
	if cfg, err := pgconn.ParseConfig(s); err == nil && strings.ContainsAny(s, "=/") {
		return Describe(cfg)
	}
	return s
}
