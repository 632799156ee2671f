// node-postgres (npm pg 8) client program for the replay fidelity tests.
// The connection comes from the PG* variables the test sets.
//
// - queries with name: are named prepared statements, parsed once per
//   connection and executed by name after that;
// - queries with values and no name are unnamed extended statements;
// - a transaction that commits, and one that fails on a duplicate key and
//   rolls back.
'use strict';
const { Client } = require('pg');

async function main() {
  const client = new Client({
    host: process.env.PGHOST,
    port: Number(process.env.PGPORT),
    user: process.env.PGUSER,
    database: process.env.PGDATABASE,
    application_name: 'node-pg-main',
  });
  await client.connect();
  try {
    for (let id = 1; id <= 8; id++) {
      const r = await client.query({ name: 'account-by-id', text: 'SELECT name, balance FROM accounts WHERE id = $1', values: [id] });
      if (r.rows.length !== 1) throw new Error(`account ${id} missing`);
    }
    for (const kind of ['click', 'view', 'buy']) {
      await client.query('SELECT count(*) FROM events WHERE kind = $1 AND account_id <= $2', [kind, 10]);
    }
    await client.query('SELECT now()');

    await client.query('BEGIN');
    await client.query({ name: 'debit', text: 'UPDATE accounts SET balance = balance - $1 WHERE id = $2', values: ['3.50', 9] });
    await client.query({ name: 'add-event', text: 'INSERT INTO events (account_id, kind, payload) VALUES ($1, $2, $3) RETURNING id', values: [9, 'buy', "node's order"] });
    await client.query('COMMIT');

    await client.query('BEGIN');
    await client.query({ name: 'debit', text: 'UPDATE accounts SET balance = balance - $1 WHERE id = $2', values: ['1.00', 10] });
    try {
      await client.query({ name: 'add-tag', text: 'INSERT INTO tags (id, name) VALUES ($1, $2)', values: [1, 'node-dup'] });
      throw new Error('the duplicate tag was inserted');
    } catch (e) {
      if (e.code !== '23505') throw e;
    }
    await client.query('ROLLBACK');
    await client.query({ name: 'add-tag', text: 'INSERT INTO tags (id, name) VALUES ($1, $2)', values: [301, 'node-301'] });
    for (let id = 1; id <= 3; id++) {
      await client.query({ name: 'account-by-id', text: 'SELECT name, balance FROM accounts WHERE id = $1', values: [id] });
    }
  } finally {
    await client.end();
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
