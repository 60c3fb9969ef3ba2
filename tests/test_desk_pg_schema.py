"""SQLite's and PostgreSQL's schemas of the desk (desk/store/schema.py) kept in step: both
are created by the store itself, then read back as each database reports them (SQLite's
PRAGMAs, PostgreSQL's catalogs) and compared: the same tables, the same columns in the
same order with the same types and NULL rules, the same primary and foreign keys, the
same UNIQUE constraints and the same indexes."""

from __future__ import annotations

import sqlite3

import psycopg2

from desk.store import DeskStore

# a SQLite declaration and what PostgreSQL reports for the same column
TYPES = {"INTEGER": "integer", "TEXT": "text", "REAL": "double precision"}


def sqlite_schema(path) -> dict:
    conn = sqlite3.connect(path)
    try:
        tables = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'"
            " AND name NOT LIKE 'sqlite_%'")]
        out = {}
        for t in tables:
            info = conn.execute(f"PRAGMA table_info({t})").fetchall()
            # (a primary key is NOT NULL in PostgreSQL; SQLite reports it as nullable)
            cols = [(name, TYPES[decl], bool(notnull or pk))
                    for _, name, decl, notnull, _, pk in info]
            pk = tuple(r[1] for r in sorted(info, key=lambda r: r[5]) if r[5])
            fks = sorted((r[3], r[2], r[4]) for r in
                         conn.execute(f"PRAGMA foreign_key_list({t})"))
            uniques, indexes = set(), set()
            for _, name, _unique, origin, _ in conn.execute(f"PRAGMA index_list({t})"):
                columns = tuple(r[2] for r in conn.execute(f"PRAGMA index_info('{name}')"))
                if origin == "u":
                    uniques.add(columns)
                elif origin == "c":
                    indexes.add((name, columns))
            out[t] = {"columns": cols, "pk": pk, "fks": fks, "unique": uniques,
                      "indexes": indexes}
        return out
    finally:
        conn.close()


def postgres_schema(url) -> dict:
    conn = psycopg2.connect(url)
    try:
        cur = conn.cursor()

        def rows(sql, *params):
            cur.execute(sql, params or None)
            return cur.fetchall()

        out = {}
        for (t,) in rows("SELECT table_name FROM information_schema.tables"
                         " WHERE table_schema = 'public'"):
            cols = [(name, dtype, nullable == "NO") for name, dtype, nullable in rows(
                "SELECT column_name, data_type, is_nullable FROM information_schema.columns"
                " WHERE table_schema = 'public' AND table_name = %s ORDER BY ordinal_position",
                t)]

            def constraint_columns(kind, t=t):
                return [tuple(r[1]) for r in rows(
                    "SELECT c.conname, ARRAY(SELECT a.attname FROM unnest(c.conkey)"
                    " WITH ORDINALITY k(n, i) JOIN pg_attribute a ON a.attrelid = c.conrelid"
                    " AND a.attnum = k.n ORDER BY k.i) FROM pg_constraint c"
                    " WHERE c.conrelid = %s::regclass AND c.contype = %s", t, kind)]

            pk = constraint_columns("p")
            fks = sorted(rows(
                "SELECT a.attname, cf.relname, af.attname FROM pg_constraint c"
                " JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]"
                " JOIN pg_class cf ON cf.oid = c.confrelid"
                " JOIN pg_attribute af ON af.attrelid = c.confrelid"
                " AND af.attnum = c.confkey[1]"
                " WHERE c.conrelid = %s::regclass AND c.contype = 'f'", t))
            constraint_indexes = {r[0] for r in rows(
                "SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass", t)}
            indexes = set()
            for name, columns in rows(
                    "SELECT i.relname, ARRAY(SELECT a.attname FROM unnest(x.indkey)"
                    " WITH ORDINALITY k(n, o) JOIN pg_attribute a ON a.attrelid = x.indrelid"
                    " AND a.attnum = k.n ORDER BY k.o) FROM pg_index x"
                    " JOIN pg_class i ON i.oid = x.indexrelid"
                    " WHERE x.indrelid = %s::regclass", t):
                if name not in constraint_indexes:
                    indexes.add((name, tuple(columns)))
            out[t] = {"columns": cols, "pk": pk[0] if pk else (),
                      "fks": [tuple(f) for f in fks],
                      "unique": set(constraint_columns("u")), "indexes": indexes}
        return out
    finally:
        conn.close()


def test_sqlite_and_postgres_schemas_are_the_same(tmp_path, pg_url):
    DeskStore(tmp_path / "desk.db").close()
    DeskStore(pg_url).close()
    lite, pg = sqlite_schema(tmp_path / "desk.db"), postgres_schema(pg_url)
    assert set(lite) == set(pg)
    assert {"agents", "sessions", "conversations", "messages", "suggestions", "assignments",
            "handoffs", "contact_messages", "canned_replies"} <= set(lite)
    for table in lite:
        assert lite[table] == pg[table], table
    # an integer primary key numbers rows by itself in both
    assert pg["messages"]["pk"] == lite["messages"]["pk"] == ("id",)


def test_a_second_start_changes_nothing(pg_url):
    DeskStore(pg_url).close()
    before = postgres_schema(pg_url)
    DeskStore(pg_url).close()
    assert postgres_schema(pg_url) == before
