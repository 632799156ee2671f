// Package drivers is test support for replay fidelity: it proves that what
// pgrehearse replays is what real client libraries sent, not what a
// hand-written log says they send.
//
// A Scenario drives a throwaway PostgreSQL cluster with a real driver
// program (Django over psycopg2, pgJDBC, psycopg 3, node-postgres,
// postgres.js, sysbench, pgbench), each captured with a different logging
// style: stderr with a prefix, csvlog or jsonlog; log_statement = all or
// log_min_duration_statement = 0. Capture starts the capture cluster, runs
// the scenario's setup, clones the starting state into a replay target that
// logs every statement and every Parse and Bind, runs the driver, and
// returns the capture log and the target.
//
// ReadLog and Compare then judge a replay: both logs go through the
// project's own parser (package parse) and are compared session by session
// (statements in order, protocol, names, parameters, errors with their
// SQLSTATE, and how often each named statement was prepared). The test that
// puts the pieces together is replay/drivers_test.go.
//
// The driver programs live in testdata/<scenario>/ and run as real
// processes; missing programs or libraries fail the test with the package
// to install (.ci/run installs them).
package drivers
