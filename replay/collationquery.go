package replay

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// readCollations reads one cluster's collation facts: its databases'
// default collations (from pg_database, which every database sees) and,
// in each database, the collations whose recorded version is stale.
func readCollations(ctx context.Context, cfg *pgconn.Config) (*ClusterCollation, error) {
	c, err := connectTo(ctx, cfg, "")
	if err != nil {
		return nil, err
	}
	defer c.Close(context.WithoutCancel(ctx))
	cl := &ClusterCollation{Target: fmt.Sprintf("host=%s port=%d", cfg.Host, cfg.Port)}
	rows, err := query(ctx, c, "SELECT current_setting('server_version'), current_setting('server_version_num')::int")
	if err != nil || len(rows) != 1 {
		return nil, fmt.Errorf("read the server version: %w", cmpErr(err))
	}
	cl.ServerVersion = rows[0][0]
	num, _ := strconv.Atoi(rows[0][1])
	if rows, err = query(ctx, c, databasesQuery(num)); err != nil {
		return nil, fmt.Errorf("read pg_database: %w", err)
	}
	for _, r := range rows {
		cl.Databases = append(cl.Databases, DatabaseCollation{Name: r[0], Provider: r[1], Collate: r[2], Ctype: r[3], ICULocale: r[4], Version: r[5], ActualVersion: r[6]})
	}
	for i := range cl.Databases {
		d := &cl.Databases[i]
		libc, icu, err := d.readCollations(ctx, cfg)
		if err != nil {
			return nil, fmt.Errorf("database %s: %w", d.Name, err)
		}
		if cl.ICUVersion == "" {
			cl.ICUVersion = icu
		}
		if cl.LibcVersion == "" {
			cl.LibcVersion = libc
		}
		if cl.LibcVersion == "" && d.Provider == "libc" && !d.byteOrder() {
			cl.LibcVersion = d.ActualVersion
		}
	}
	return cl, nil
}

func cmpErr(err error) error {
	if err == nil {
		return errors.New("no answer")
	}
	return err
}

// databasesQuery lists a cluster's databases with their default
// collation, in the catalog of server version num.
func databasesQuery(num int) string {
	provider, locale, version, actual := "CASE datlocprovider WHEN 'i' THEN 'icu' ELSE 'libc' END", "coalesce(daticulocale, '')",
		"coalesce(datcollversion, '')", "coalesce(pg_database_collation_actual_version(oid), '')"
	switch {
	case num >= 170000:
		provider = "CASE datlocprovider WHEN 'i' THEN 'icu' WHEN 'b' THEN 'builtin' ELSE 'libc' END"
		locale = "coalesce(datlocale, '')"
	case num < 150000:
		provider, locale, version, actual = "'libc'", "''", "''", "''"
	}
	return fmt.Sprintf(`SELECT datname, %s, datcollate, datctype, %s, %s, %s FROM pg_database
		WHERE datallowconn AND NOT datistemplate ORDER BY datname LIMIT %d`, provider, locale, version, actual, maxDatabases)
}

// readCollations reads the collations of one database: which are ICU and
// which libc (not byte order), which are stale, and the library versions
// they report.
func (d *DatabaseCollation) readCollations(ctx context.Context, cfg *pgconn.Config) (libc, icu string, err error) {
	c, err := connectTo(ctx, cfg, d.Name)
	if err != nil {
		return "", "", err
	}
	defer c.Close(context.WithoutCancel(ctx))
	rows, err := query(ctx, c, `SELECT oid, collname, collprovider, coalesce(collversion, ''), coalesce(pg_collation_actual_version(oid), '')
		FROM pg_collation WHERE collprovider IN ('i', 'c') AND collencoding IN (-1, pg_char_to_encoding(current_setting('server_encoding')))
		ORDER BY collname = 'und-x-icu' DESC, oid`)
	if err != nil {
		return "", "", fmt.Errorf("read pg_collation: %w", err)
	}
	for _, r := range rows {
		oid64, _ := strconv.ParseUint(r[0], 10, 32)
		oid := uint32(oid64)
		name, provider, recorded, actual := r[1], r[2], r[3], r[4]
		switch {
		case provider == "i":
			d.icu = append(d.icu, oid)
			if icu == "" {
				icu = actual
			}
		case !byteOrderLocale(name) && name != "ucs_basic":
			d.libc = append(d.libc, oid)
			if libc == "" {
				libc = actual
			}
		}
		if recorded != "" && actual != "" && recorded != actual {
			d.Stale = append(d.Stale, StaleCollation{Name: name, Recorded: recorded, Actual: actual, oid: oid})
		}
	}
	return libc, icu, nil
}

// affectedIndexes lists the indexes of database db on the candidate with
// a key column in one of the collations oids.
func affectedIndexes(ctx context.Context, cfg *pgconn.Config, db string, oids []uint32, reasons map[uint32]string) ([]CollationIndex, error) {
	c, err := connectTo(ctx, cfg, db)
	if err != nil {
		return nil, err
	}
	defer c.Close(context.WithoutCancel(ctx))
	list := make([]string, len(oids))
	for i, o := range oids {
		list[i] = strconv.FormatUint(uint64(o), 10)
	}
	rows, err := query(ctx, c, `SELECT i.indexrelid::regclass::text, i.indrelid::regclass::text, am.amname, pg_get_indexdef(i.indexrelid),
			(SELECT min(k)::text FROM unnest(i.indcollation::oid[]) k WHERE k = ANY($1::oid[]))
		FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_namespace n ON n.oid = ic.relnamespace JOIN pg_am am ON am.oid = ic.relam
		WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_toast%'
		  AND EXISTS (SELECT 1 FROM unnest(i.indcollation::oid[]) k WHERE k = ANY($1::oid[]))
		ORDER BY 1 LIMIT 1000`, "{"+strings.Join(list, ",")+"}")
	if err != nil {
		return nil, fmt.Errorf("list indexes: %w", err)
	}
	out := make([]CollationIndex, 0, len(rows))
	for _, r := range rows {
		oid, _ := strconv.ParseUint(r[4], 10, 32)
		out = append(out, CollationIndex{Database: db, Index: r[0], Table: r[1], Method: r[2], Definition: r[3], Reason: reasons[uint32(oid)]})
	}
	return out, nil
}

// checkWithAmcheck verifies the B-tree indexes of idx (all in database
// db) on the candidate with amcheck's bt_index_check: it walks each index
// and checks that its items are in the order the index's collation gives
// now, which is what a changed collation breaks.
func checkWithAmcheck(ctx context.Context, cfg *pgconn.Config, db string, idx []CollationIndex) {
	c, err := connectTo(ctx, cfg, db)
	if err == nil {
		defer c.Close(context.WithoutCancel(ctx))
		_, err = c.Exec(ctx, "CREATE EXTENSION IF NOT EXISTS amcheck").ReadAll()
	}
	for i := range idx {
		ix := &idx[i]
		switch {
		case err != nil:
			ix.Check = "not checked: amcheck: " + pgMessage(err)
		case ix.Method != "btree":
			ix.Check = "not checked: amcheck verifies B-tree indexes only"
		default:
			if _, qerr := query(ctx, c, "SELECT bt_index_check($1::regclass)", ix.Index); qerr != nil {
				ix.Check = pgMessage(qerr)
			} else {
				ix.Check = "ok"
			}
		}
	}
}

// pgMessage is an error's message with its detail, without the "ERROR:"
// decoration.
func pgMessage(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		if pe.Detail != "" {
			return pe.Message + " (" + pe.Detail + ")"
		}
		return pe.Message
	}
	return err.Error()
}
