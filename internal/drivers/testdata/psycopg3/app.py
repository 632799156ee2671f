"""psycopg 3 client program for the replay fidelity tests.

Run with Debian's /usr/bin/python3 (python3-psycopg 3.1). The connection
comes from the PG* variables the test sets.

- A query executed past prepare_threshold is prepared server-side under a
  _pg3_N name and executed by that name from then on.
- conn.pipeline() in autocommit sends several statements before one Sync:
  one implicit transaction. A duplicate key rolls all of it back; the retry
  without the bad row commits.
"""
import os

import psycopg
from psycopg import errors

conn = psycopg.connect(
    host=os.environ["PGHOST"],
    port=os.environ["PGPORT"],
    user=os.environ["PGUSER"],
    dbname=os.environ["PGDATABASE"],
    application_name="psycopg3-main",
    autocommit=True,
)
# The default, said out loud: the 6th execution of a query prepares it. A
# statement must not reach it inside the pipeline that fails: psycopg 3.1
# would count the Parse the server skipped after the error as done, and the
# retry would fail with 26000 (prepared statement "_pg3_N" does not exist).
conn.prepare_threshold = 5

with conn.cursor() as cur:
    for i in range(1, 9):
        cur.execute("SELECT name, balance FROM accounts WHERE id = %s", (i,))
        assert cur.fetchone() is not None
    for kind in ("click", "view", "buy", "click", "view", "buy", "click"):
        cur.execute("SELECT count(*) FROM events WHERE kind = %s AND account_id < %s", (kind, 20))
        cur.fetchone()


def insert_tags(ids):
    with conn.pipeline():
        with conn.cursor() as cur:
            for i in ids:
                cur.execute("INSERT INTO tags (id, name) VALUES (%s, %s)", (i, "pipe-%d" % i))
            cur.execute("UPDATE accounts SET balance = balance + %s WHERE id = %s", (1, 7))


try:
    insert_tags([201, 202, 1, 203])  # tag 1 exists
    raise SystemExit("the pipeline with a duplicate key succeeded")
except errors.UniqueViolation:
    pass
insert_tags([201, 202, 203])

with conn.cursor() as cur:
    cur.execute("SELECT count(*) FROM tags WHERE id BETWEEN 201 AND 203")
    assert cur.fetchone()[0] == 3, "retried pipeline did not commit its three rows"

# An explicit transaction on the same connection.
with conn.transaction():
    with conn.cursor() as cur:
        cur.execute("UPDATE accounts SET balance = balance - %s WHERE id = %s RETURNING balance", (2.5, 8))
        cur.execute("INSERT INTO events (account_id, kind, payload) VALUES (%s, %s, %s)", (8, "buy", None))

conn.close()
