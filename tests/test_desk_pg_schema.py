"""SQLite's and PostgreSQL's schemas of the desk (desk/store/schema.py) kept in step: both
are created by the store itself, then read back as each database reports them (SQLite's
PRAGMAs, PostgreSQL's catalogs) and compared: the same tables, the same columns in the
same order with the same types and NULL rules, the same primary and foreign keys, the
same UNIQUE constraints and the same indexes; the keys PostgreSQL numbers itself (identity
columns) are those SQLite numbers. The tables are written once, in SQLite's words, and
translated (`schema.postgres_ddl`, checked on its own here against hand-written DDL)."""

from __future__ import annotations

import sqlite3

import psycopg2
import pytest

from desk.store import DeskStore
from desk.store.schema import postgres_ddl
from tests.cluster_support import fetch

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
    # ... where the database numbers them: not message_parses, keyed by the message's id
    assert identity_columns(pg_url) == {
        ("agents", "agent_id"), ("messages", "id"), ("suggestions", "id"),
        ("assignments", "id"), ("handoffs", "id"), ("contact_messages", "id"),
        ("canned_replies", "id"), ("notes", "id"), ("ratings", "id"), ("reviews", "id")}


def identity_columns(url) -> set[tuple[str, str]]:
    return set(fetch(url, "SELECT table_name, column_name FROM information_schema.columns"
                          " WHERE table_schema = 'public' AND is_identity = 'YES'"))


SQLITE_DDL = """
CREATE TABLE IF NOT EXISTS orders (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    shop_id INTEGER NOT NULL REFERENCES shops(shop_id),
    total REAL NOT NULL DEFAULT 0,          -- yuan, a REAL
    photo BLOB,
    note TEXT CHECK (note IN ('送礼', 'gift')),
    UNIQUE (shop_id, note)
);
CREATE TABLE IF NOT EXISTS shops (
    shop_id INTEGER PRIMARY KEY,
    name TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS order_parses (
    order_id INTEGER,
    score REAL,
    PRIMARY KEY (order_id)
);
CREATE INDEX IF NOT EXISTS orders_total ON orders(total);
"""
POSTGRES_DDL = """
CREATE TABLE IF NOT EXISTS orders (
    id INTEGER GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    shop_id INTEGER NOT NULL REFERENCES shops(shop_id),
    total DOUBLE PRECISION NOT NULL DEFAULT 0,          -- yuan, a REAL
    photo BYTEA,
    note TEXT CHECK (note IN ('送礼', 'gift')),
    UNIQUE (shop_id, note)
);
CREATE TABLE IF NOT EXISTS shops (
    shop_id INTEGER GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    name TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS order_parses (
    order_id INTEGER,
    score DOUBLE PRECISION,
    PRIMARY KEY (order_id)
);
CREATE INDEX IF NOT EXISTS orders_total ON orders(total);
"""


def test_the_translation_changes_types_and_numbered_keys_only():
    assert postgres_ddl(SQLITE_DDL) == POSTGRES_DDL
    # an added column's declaration goes through the same translation
    assert postgres_ddl("requested_discount_pct REAL") == \
        "requested_discount_pct DOUBLE PRECISION"
    assert postgres_ddl("seq INTEGER") == "seq INTEGER"


def test_a_type_without_a_postgres_word_is_refused():
    with pytest.raises(ValueError, match="NUMERIC"):
        postgres_ddl("CREATE TABLE t (\n    price NUMERIC NOT NULL\n);")


def test_a_second_start_changes_nothing(pg_url):
    DeskStore(pg_url).close()
    before = postgres_schema(pg_url)
    DeskStore(pg_url).close()
    assert postgres_schema(pg_url) == before
