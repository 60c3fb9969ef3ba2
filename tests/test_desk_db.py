"""Group commit in the desk's database seam (desk/store/db.py): writes that wait while the
writer is busy are committed together with one COMMIT, each in its own savepoint (a
failing one rolls back alone), and none is answered before that COMMIT has returned."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from desk.store import SQLiteDatabase


def rows(path, query) -> list[tuple]:
    """Read through a connection of the test's own, not the database's."""
    conn = sqlite3.connect(path)
    try:
        return [tuple(r) for r in conn.execute(query)]
    finally:
        conn.close()


@pytest.fixture()
def db(tmp_path):
    d = SQLiteDatabase(tmp_path / "d.db")
    d.write_sync(lambda c: c.execute("CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER)"))
    yield d
    d.close()


def traced(db) -> list[str]:
    """Every statement the writer connection runs from now on."""
    statements: list[str] = []
    db.write_sync(lambda c: c.set_trace_callback(statements.append))
    return statements


def hold_the_writer(db) -> tuple[threading.Event, threading.Event, object]:
    """A write that keeps the writer thread busy until released: (started, release,
    its future). Writes asked for meanwhile wait in the queue."""
    started, release = threading.Event(), threading.Event()

    def busy(c):
        started.set()
        release.wait(10)
        c.execute("INSERT INTO t VALUES ('busy', 0)")

    fut = db._writer.submit(busy, ())
    assert started.wait(10)
    return started, release, fut


def insert(k, v):
    def job(c):
        c.execute("INSERT INTO t VALUES (?, ?)", (k, v))
        return k
    return job


def test_waiting_writes_share_one_commit_and_are_answered_after_it(db):
    statements = traced(db)
    _, release, busy = hold_the_writer(db)
    answered_after_commit: list[bool] = []
    futs = []
    for i in range(10):
        f = db._writer.submit(insert(f"k{i}", i), ())
        # runs in the writer thread the moment the result is released
        f.add_done_callback(lambda _f: answered_after_commit.append(
            statements.count("COMMIT") >= 2))
        futs.append(f)
    n_commits = statements.count("COMMIT")
    release.set()
    busy.result(10)
    assert [f.result(10) for f in futs] == [f"k{i}" for i in range(10)]
    # the busy write alone, then the ten together: two commits, not eleven
    assert statements.count("COMMIT") - n_commits == 2
    assert statements.count("SAVEPOINT job") == 10
    assert answered_after_commit == [True] * 10
    assert rows(db.path, "SELECT COUNT(*) FROM t") == [(11,)]


def test_a_failing_write_in_a_group_rolls_back_alone(db):
    _, release, busy = hold_the_writer(db)

    def half_then_fail(c):
        c.execute("INSERT INTO t VALUES ('half', 1)")
        raise ValueError("refused")

    first = db._writer.submit(insert("a", 1), ())
    bad = db._writer.submit(half_then_fail, ())
    dup = db._writer.submit(insert("a", 2), ())          # breaks the primary key
    last = db._writer.submit(insert("b", 3), ())
    release.set()
    busy.result(10)
    assert first.result(10) == "a" and last.result(10) == "b"
    with pytest.raises(ValueError, match="refused"):
        bad.result(10)
    with pytest.raises(sqlite3.IntegrityError):
        dup.result(10)
    assert rows(db.path, "SELECT k, v FROM t ORDER BY k") == \
        [("a", 1), ("b", 3), ("busy", 0)]


def test_a_group_whose_commit_fails_keeps_nothing_and_tells_every_caller(db):
    # a deferred foreign key is checked at COMMIT: one bad write makes the commit fail
    db.write_sync(lambda c: c.execute("CREATE TABLE parent (id INTEGER PRIMARY KEY)"))
    db.write_sync(lambda c: c.execute(
        "CREATE TABLE child (id INTEGER PRIMARY KEY, parent INTEGER REFERENCES parent(id)"
        " DEFERRABLE INITIALLY DEFERRED)"))
    _, release, busy = hold_the_writer(db)
    ok = db._writer.submit(insert("ok", 1), ())
    orphan = db._writer.submit(
        lambda c: c.execute("INSERT INTO child VALUES (1, 99)").rowcount, ())
    release.set()
    busy.result(10)
    for f in (ok, orphan):
        with pytest.raises(sqlite3.IntegrityError):
            f.result(10)
    assert rows(db.path, "SELECT k FROM t") == [("busy",)]
    assert rows(db.path, "SELECT COUNT(*) FROM child") == [(0,)]
    # the writer goes on
    assert db.write_sync(insert("after", 2)) == "after"


def test_without_group_commit_each_write_commits_alone(tmp_path):
    d = SQLiteDatabase(tmp_path / "d.db", group_commit=False)
    try:
        d.write_sync(lambda c: c.execute("CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER)"))
        statements = traced(d)
        _, release, busy = hold_the_writer(d)
        futs = [d._writer.submit(insert(f"k{i}", i), ()) for i in range(5)]
        n = statements.count("COMMIT")
        release.set()
        busy.result(10)
        [f.result(10) for f in futs]
        assert statements.count("COMMIT") - n == 6
    finally:
        d.close()


async def test_async_writes_from_many_tasks_are_all_stored(db):
    import asyncio

    statements = traced(db)
    n = statements.count("COMMIT")
    got = await asyncio.gather(*(db.write(insert(f"x{i}", i)) for i in range(200)))
    assert got == [f"x{i}" for i in range(200)]
    assert rows(db.path, "SELECT COUNT(*) FROM t") == [(200,)]
    assert statements.count("COMMIT") - n < 200          # some were grouped
