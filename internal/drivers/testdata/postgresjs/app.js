// postgres.js (npm postgres 3) client program for the replay fidelity
// tests. The connection comes from the PG* variables the test sets.
//
// postgres.js prepares every query as a named statement and pipelines:
// queries issued together on one connection go out before their replies
// come back, each with its own Sync.
'use strict';
const postgres = require('postgres');

async function main() {
  const sql = postgres({
    host: process.env.PGHOST,
    port: Number(process.env.PGPORT),
    user: process.env.PGUSER,
    database: process.env.PGDATABASE,
    max: 1,
    onnotice: () => {},
    connection: { application_name: 'postgresjs-main' },
  });
  try {
    for (let id = 1; id <= 5; id++) {
      const rows = await sql`SELECT name, balance FROM accounts WHERE id = ${id}`;
      if (rows.length !== 1) throw new Error(`account ${id} missing`);
    }
    // Several queries at once on the one connection: pipelined. One of
    // them fails on its own; the others are not affected.
    const results = await Promise.allSettled([
      sql`SELECT count(*) FROM events WHERE kind = ${'click'}`,
      sql`SELECT count(*) FROM events WHERE kind = ${'view'}`,
      sql`INSERT INTO tags (id, name) VALUES (${1}, ${'pjs-dup'})`,
      sql`SELECT name FROM accounts WHERE id = ${11}`,
      sql`SELECT count(*) FROM events WHERE kind = ${'buy'}`,
    ]);
    const failed = results.filter((r) => r.status === 'rejected');
    if (failed.length !== 1 || failed[0].reason.code !== '23505') {
      throw new Error('want exactly the duplicate tag to fail: ' + JSON.stringify(results.map((r) => r.status)));
    }
    await sql.begin(async (tx) => {
      await tx`UPDATE accounts SET balance = balance - ${'2.00'} WHERE id = ${12}`;
      await Promise.all([
        tx`INSERT INTO events (account_id, kind, payload) VALUES (${12}, ${'buy'}, ${'pjs one'})`,
        tx`INSERT INTO events (account_id, kind, payload) VALUES (${12}, ${'buy'}, ${'pjs two'})`,
      ]);
    });
    await sql`INSERT INTO tags (id, name) VALUES (${401}, ${'pjs-401'})`;
    for (let id = 6; id <= 8; id++) {
      await sql`SELECT name, balance FROM accounts WHERE id = ${id}`;
    }
  } finally {
    await sql.end({ timeout: 5 });
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
