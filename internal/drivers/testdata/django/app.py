"""Django ORM client program (psycopg2) for the replay fidelity tests.

Run with Debian's /usr/bin/python3 (python3-django 3.2, python3-psycopg2):

    app.py main     select_related, bulk_create, nested atomic blocks,
                    an iterator over a server-side cursor
    app.py race-a   get_or_create of tag "race" inside atomic: prints
                    "inserted" once its row is in, holds the transaction
                    300 ms, commits
    app.py race-b   waits for a line on stdin, then get_or_create of the
                    same tag: its INSERT blocks on A's key, fails with 23505
                    when A commits, and Django rolls back to the savepoint
                    and fetches A's row

The connection comes from the PG* variables the test sets. The tables are
made by the scenario's setup SQL (managed = False).
"""
import os
import sys

import django
from django.conf import settings

ROLE = sys.argv[1] if len(sys.argv) > 1 else "main"

settings.configure(
    DEBUG=False,
    USE_TZ=True,
    TIME_ZONE="UTC",
    INSTALLED_APPS=[],
    DATABASES={
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "HOST": os.environ["PGHOST"],
            "PORT": os.environ["PGPORT"],
            "USER": os.environ["PGUSER"],
            "NAME": os.environ["PGDATABASE"],
            "OPTIONS": {"application_name": "django-" + ROLE},
        }
    },
)
django.setup()

from django.db import IntegrityError, connection, models, transaction  # noqa: E402


class Account(models.Model):
    id = models.BigIntegerField(primary_key=True)
    name = models.TextField(unique=True)
    balance = models.DecimalField(max_digits=12, decimal_places=2)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = "shop"
        db_table = "accounts"
        managed = False


class Event(models.Model):
    id = models.BigAutoField(primary_key=True)
    account = models.ForeignKey(Account, on_delete=models.CASCADE)
    kind = models.CharField(max_length=20)
    payload = models.TextField(null=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = "shop"
        db_table = "events"
        managed = False


class Tag(models.Model):
    name = models.TextField(unique=True)

    class Meta:
        app_label = "shop"
        db_table = "tags"
        managed = False


def main():
    # select_related: one JOIN instead of a query per event.
    recent = list(Event.objects.select_related("account").filter(account_id__lte=5).order_by("-id")[:20])
    assert all(e.account.name for e in recent)

    Event.objects.bulk_create(
        [Event(account_id=1 + i % 10, kind="view", payload="bulk %d, it's" % i) for i in range(40)]
    )

    # Nested atomic blocks are savepoints: the failing inner block rolls
    # back to its savepoint, the outer transaction commits.
    with transaction.atomic():
        acc = Account.objects.select_for_update().get(id=2)
        acc.balance = acc.balance + 5
        acc.save(update_fields=["balance"])
        try:
            with transaction.atomic():
                Tag.objects.create(name="seed")  # exists: 23505
        except IntegrityError:
            pass
        with transaction.atomic():
            Tag.objects.create(name="django-nested")
        Event.objects.create(account=acc, kind="buy", payload="nested")

    # A server-side cursor: DECLARE ... WITH HOLD and FETCH in autocommit.
    n = sum(1 for _ in Event.objects.filter(kind="click").values_list("id", flat=True).iterator(chunk_size=50))
    assert n > 0

    for acc in Account.objects.filter(id__in=[3, 4, 5]).order_by("id"):
        Event.objects.filter(account=acc, kind="view").count()

    Account.objects.filter(id=6).update(balance=models.F("balance") + 1)


def race_a():
    import time

    with transaction.atomic():
        tag, created = Tag.objects.get_or_create(name="race")
        assert created
        print("inserted", flush=True)
        time.sleep(0.3)


def race_b():
    connection.ensure_connection()
    print("ready", flush=True)
    sys.stdin.readline()
    with transaction.atomic():
        tag, created = Tag.objects.get_or_create(name="race")
        assert not created, "B created the tag: A's insert was not in the way"


{"main": main, "race-a": race_a, "race-b": race_b}[ROLE]()
connection.close()
