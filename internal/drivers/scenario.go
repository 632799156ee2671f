package drivers

import (
	"context"
	"fmt"
	"strconv"
)

// DSN is where a driver program connects: loopback, trust auth, no
// password.
type DSN struct {
	Host     string
	Port     int
	User     string
	Database string
}

// String is the libpq keyword/value form.
func (d DSN) String() string {
	return fmt.Sprintf("host=%s port=%d user=%s dbname=%s sslmode=disable", d.Host, d.Port, d.User, d.Database)
}

// Env is the PG* variables the driver programs read.
func (d DSN) Env() []string {
	return []string{"PGHOST=" + d.Host, "PGPORT=" + strconv.Itoa(d.Port), "PGUSER=" + d.User, "PGDATABASE=" + d.Database,
		"PGSSLMODE=disable"}
}

// Expect is what a capture must show for the scenario to have done what it
// was written to do: a race that did not race, or a batch that did not
// fail, proves nothing about replay.
type Expect struct {
	// MinSessions and MinStatements bound the capture from below.
	MinSessions, MinStatements int
	// Named: some statements ran as named prepared statements.
	Named bool
	// Errors are SQLSTATEs the capture must have, each at least once.
	Errors []string
}

// Scenario is one real client library driving a cluster.
type Scenario struct {
	Name string
	// User and Database the program connects as and to; Capture creates
	// them (the user owns the database).
	User, Database string
	// SetupSQL makes the schema and seed data; it runs as User in
	// Database before the capture starts and is not in the capture log.
	SetupSQL string
	// Setup, when set, runs after SetupSQL: a tool's own loader
	// (pgbench -i, sysbench prepare).
	Setup func(ctx context.Context, d DSN) error
	// Logging is the capture cluster's logging style, postgresql.conf
	// lines. Capture adds log_connections, log_disconnections and
	// lc_messages = 'C'.
	Logging []string
	// Run runs the real driver program against d. Its error carries the
	// tail of the program's standard error.
	Run func(ctx context.Context, d DSN) error
	// Replayed is false for load scenarios that other tests replay (speed,
	// lock order); TestDrivers replays the others.
	Replayed bool
	Expect   Expect
	// needs lists what must be installed, ready prepares what can be
	// (npm ci, javac); Ready runs both.
	needs []need
	ready []func(ctx context.Context) error
}

// The stderr prefix of the stderr captures: %q keeps the session fields
// off postmaster lines, %v and %x show how statements group into
// transactions.
const stderrPrefix = "'%m [%p] %q%u@%d %c %e %v %x '"

// shopSchema is the schema most driver programs use.
const shopSchema = `
CREATE TABLE accounts (
  id bigint PRIMARY KEY,
  name text NOT NULL UNIQUE,
  balance numeric(12,2) NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE events (
  id bigserial PRIMARY KEY,
  account_id bigint NOT NULL REFERENCES accounts (id),
  kind varchar(20) NOT NULL,
  payload text,
  created_at timestamptz NOT NULL DEFAULT now());
CREATE INDEX events_account_id ON events (account_id);
CREATE TABLE tags (id serial PRIMARY KEY, name text NOT NULL UNIQUE);
INSERT INTO accounts (id, name, balance)
  SELECT g, 'account-' || g, g * 10 FROM generate_series(1, 50) g;
INSERT INTO events (account_id, kind, payload)
  SELECT 1 + g % 50, (ARRAY['click', 'view', 'buy'])[1 + g % 3], 'seed ' || g FROM generate_series(1, 500) g;
INSERT INTO tags (id, name) VALUES (1, 'seed');
SELECT setval('tags_id_seq', 1000);
`

// Scenarios returns every scenario, in a stable order.
func Scenarios() []Scenario {
	return []Scenario{
		djangoScenario(), pgjdbcScenario(), psycopg3Scenario(), nodePGScenario(),
		postgresjsScenario(), sysbenchScenario(), pgbenchScenario(), pgjdbcHotrowScenario(),
		sysbenchContendedScenario(),
	}
}

// Lookup returns the scenario called name.
func Lookup(name string) (Scenario, bool) {
	for _, s := range Scenarios() {
		if s.Name == name {
			return s, true
		}
	}
	return Scenario{}, false
}

// Ready checks that everything the scenario runs is installed and
// prepares what it can (node modules, compiled Java). The error names the
// packages to install.
func (s *Scenario) Ready(ctx context.Context) error {
	if err := checkNeeds(s.Name, s.needs); err != nil {
		return err
	}
	for _, f := range s.ready {
		if err := f(ctx); err != nil {
			return fmt.Errorf("scenario %s: %w", s.Name, err)
		}
	}
	return nil
}

func djangoScenario() Scenario {
	return Scenario{
		Name: "django", User: "app", Database: "shop", SetupSQL: shopSchema, Replayed: true,
		Logging: []string{"log_destination = 'stderr'", "log_line_prefix = " + stderrPrefix, "log_statement = 'all'"},
		Run:     runDjango,
		needs:   []need{python3Modules("Django 3.2 and psycopg2", "python3-django python3-psycopg2", "django", "psycopg2")},
		Expect:  Expect{MinSessions: 3, MinStatements: 40, Errors: []string{"23505"}},
	}
}

func pgjdbcScenario() Scenario {
	dir := testdata("pgjdbc")
	return Scenario{
		Name: "pgjdbc", User: "app", Database: "shop", SetupSQL: shopSchema, Replayed: true,
		// log_parameter_max_length_on_error shows the values of a
		// statement that failed at Bind: without them no replay could
		// send it again.
		Logging: []string{"log_destination = 'csvlog'", "log_min_duration_statement = 0", "log_parameter_max_length_on_error = -1"},
		Run:     func(ctx context.Context, d DSN) error { return runJava(ctx, d, dir, "Main") },
		needs:   javaNeeds(),
		ready:   []func(context.Context) error{func(ctx context.Context) error { _, err := compileJava(ctx, dir); return err }},
		Expect:  Expect{MinSessions: 1, MinStatements: 30, Named: true, Errors: []string{"23505", "42883", "22012"}},
	}
}

func psycopg3Scenario() Scenario {
	return Scenario{
		Name: "psycopg3", User: "app", Database: "shop", SetupSQL: shopSchema, Replayed: true,
		Logging: []string{"log_destination = 'jsonlog'", "log_statement = 'all'"},
		Run: func(ctx context.Context, d DSN) error {
			return runProgram(ctx, "psycopg 3 program", command(ctx, d, testdata("psycopg3"), python3, "app.py"))
		},
		needs:  []need{python3Modules("psycopg 3", "python3-psycopg", "psycopg")},
		Expect: Expect{MinSessions: 1, MinStatements: 25, Named: true, Errors: []string{"23505"}},
	}
}

func nodePGScenario() Scenario {
	dir := testdata("node-pg")
	return Scenario{
		Name: "node-pg", User: "app", Database: "shop", SetupSQL: shopSchema, Replayed: true,
		Logging: []string{"log_destination = 'stderr'", "log_line_prefix = " + stderrPrefix, "log_min_duration_statement = 0"},
		Run: func(ctx context.Context, d DSN) error {
			return runProgram(ctx, "node-postgres program", command(ctx, d, dir, "node", "app.js"))
		},
		needs:  nodeNeeds(),
		ready:  []func(context.Context) error{func(ctx context.Context) error { return npmCI(ctx, dir) }},
		Expect: Expect{MinSessions: 1, MinStatements: 20, Named: true, Errors: []string{"23505"}},
	}
}

func postgresjsScenario() Scenario {
	dir := testdata("postgresjs")
	return Scenario{
		Name: "postgresjs", User: "app", Database: "shop", SetupSQL: shopSchema, Replayed: true,
		Logging: []string{"log_destination = 'csvlog'", "log_statement = 'all'"},
		Run: func(ctx context.Context, d DSN) error {
			return runProgram(ctx, "postgres.js program", command(ctx, d, dir, "node", "app.js"))
		},
		needs:  nodeNeeds(),
		ready:  []func(context.Context) error{func(ctx context.Context) error { return npmCI(ctx, dir) }},
		Expect: Expect{MinSessions: 1, MinStatements: 15, Named: true, Errors: []string{"23505"}},
	}
}
