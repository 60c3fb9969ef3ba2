"""The desk's tables, written once in SQLite's words (`SCHEMA`, `REVIEW_SCHEMA`) and
translated for PostgreSQL (`POSTGRES_SCHEMA = postgres_ddl(...)`): the same tables,
columns, constraints and indexes, each column's type through `POSTGRES_TYPES` (`REAL` is
`DOUBLE PRECISION`, `BLOB` is `BYTEA`) and a key the database numbers, a column's own
`INTEGER PRIMARY KEY [AUTOINCREMENT]`, an identity column. A key the desk supplies
(`message_parses.message_id`, the shopper message's id) is written as a table constraint,
`PRIMARY KEY (message_id)`: in SQLite the same rowid key, in PostgreSQL a plain integer
key. So a column is written once; tests/test_desk_pg_schema.py compares the two schemas
as the databases report them.

`apply(conn)` (SQLite) and `apply_postgres(conn)` create what is missing and add the
columns that later versions added to a database an older desk created; each runs in the
writer's first transaction (desk/store/db.py, desk/store/postgres.py).

`conversations.seq` numbers conversations in creation order (one more than the highest,
inside the serialized write that creates one): the queue's and the lists' tie-break after
a timestamp, a real column in both databases rather than SQLite's `rowid`.
"""

from __future__ import annotations

import re
import sqlite3

SCHEMA = """
CREATE TABLE IF NOT EXISTS agents (
    agent_id INTEGER PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('agent', 'supervisor')),
    languages TEXT NOT NULL,                -- "zh,en"
    password TEXT NOT NULL,                 -- scrypt$n$r$p$salt$hash
    status TEXT NOT NULL DEFAULT 'away' CHECK (status IN ('online', 'away')),
    cap INTEGER NOT NULL,
    daily_cap INTEGER NOT NULL,
    enabled INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    last_seen_at TEXT                       -- the console's latest sign of life (presence)
);
CREATE TABLE IF NOT EXISTS sessions (
    session_hash TEXT PRIMARY KEY,          -- sha256 of the cookie value
    agent_id INTEGER NOT NULL REFERENCES agents(agent_id),
    csrf_token TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS conversations (
    conversation_id TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL,               -- sha256 of the shopper's token
    locale TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('bot', 'queued', 'assigned', 'resolved')),
    customer_id TEXT,
    page TEXT,                              -- JSON
    cart TEXT,                              -- JSON
    agent_id INTEGER REFERENCES agents(agent_id),
    preferred_agent_id INTEGER,
    handoff_reason TEXT,
    requested_discount_pct REAL,            -- the discount asked for (handoff `discount`)
    contact TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    queued_at TEXT,
    assigned_at TEXT,
    resolved_at TEXT,
    seq INTEGER,                            -- creation order (the queue's tie-break)
    read_upto INTEGER,                      -- the latest message id the owner has read
    -- an assigned conversation has its one owner, a bot or queued one has none
    CHECK (state = 'resolved' OR (state = 'assigned') = (agent_id IS NOT NULL))
);
CREATE INDEX IF NOT EXISTS conversations_owner ON conversations(agent_id, state);
CREATE INDEX IF NOT EXISTS conversations_queue ON conversations(state, queued_at);
CREATE INDEX IF NOT EXISTS conversations_customer ON conversations(customer_id);
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id TEXT NOT NULL REFERENCES conversations(conversation_id),
    sender TEXT NOT NULL CHECK (sender IN ('shopper', 'bot', 'agent', 'system')),
    text TEXT NOT NULL DEFAULT '',
    buttons TEXT,                           -- JSON
    image TEXT,
    custom TEXT,                            -- JSON
    client_id TEXT,
    reply_to INTEGER,                       -- the shopper message this answers
    agent_id INTEGER,
    agent_name TEXT,
    created_at TEXT NOT NULL,
    -- shopper messages: the conversation's state and owner once it was stored
    state TEXT,
    owner_id INTEGER,
    UNIQUE (conversation_id, client_id)
);
CREATE INDEX IF NOT EXISTS messages_conversation ON messages(conversation_id, id);
CREATE INDEX IF NOT EXISTS messages_reply_to ON messages(reply_to);
CREATE TABLE IF NOT EXISTS suggestions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id TEXT NOT NULL REFERENCES conversations(conversation_id),
    message_id INTEGER NOT NULL,            -- the shopper message it answers
    kind TEXT NOT NULL CHECK (kind IN ('answer', 'crosssell')),
    text TEXT NOT NULL,                     -- the draft
    buttons TEXT,
    custom TEXT,                            -- the bot's payload (JSON)
    facts TEXT,                             -- {fact key: value} when drafted (JSON)
    outcome TEXT CHECK (outcome IN ('accepted', 'edited', 'rejected')),
    final_text TEXT,
    sent_message_id INTEGER,
    agent_id INTEGER,
    created_at TEXT NOT NULL,
    decided_at TEXT
);
CREATE INDEX IF NOT EXISTS suggestions_conversation ON suggestions(conversation_id, id);
CREATE TABLE IF NOT EXISTS assignments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id TEXT NOT NULL,
    agent_id INTEGER,
    from_agent_id INTEGER,
    kind TEXT NOT NULL CHECK (kind IN ('assign', 'reopen', 'reassign', 'resolve')),
    reason TEXT,
    by_agent_id INTEGER,
    day TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS assignments_agent_day ON assignments(agent_id, day, kind);
CREATE INDEX IF NOT EXISTS assignments_conversation ON assignments(conversation_id);
-- every time a conversation left the bot for the humans (the KPIs of desk/metrics.py)
CREATE TABLE IF NOT EXISTS handoffs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id TEXT NOT NULL,
    reason TEXT NOT NULL,
    requested_discount_pct REAL,            -- the discount asked for (reason `discount`)
    day TEXT NOT NULL,                      -- shop-local date of queued_at
    queued_at TEXT NOT NULL,
    message_id INTEGER                      -- the shopper message that brought it about
);
CREATE INDEX IF NOT EXISTS handoffs_day ON handoffs(day);
CREATE INDEX IF NOT EXISTS handoffs_conversation ON handoffs(conversation_id, id);
CREATE TABLE IF NOT EXISTS contact_messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id TEXT NOT NULL,
    contact TEXT NOT NULL,
    text TEXT NOT NULL,
    locale TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS canned_replies (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    locale TEXT NOT NULL,
    title TEXT NOT NULL,
    text TEXT NOT NULL
);
-- private notes on a conversation: agents only, never shown to the shopper
CREATE TABLE IF NOT EXISTS notes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id TEXT NOT NULL REFERENCES conversations(conversation_id),
    agent_id INTEGER NOT NULL,
    text TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS notes_conversation ON notes(conversation_id, id);
CREATE TABLE IF NOT EXISTS conversation_labels (
    conversation_id TEXT NOT NULL REFERENCES conversations(conversation_id),
    label TEXT NOT NULL,
    PRIMARY KEY (conversation_id, label)
);
-- the shopper's rating of a conversation cycle, once per resolution
CREATE TABLE IF NOT EXISTS ratings (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id TEXT NOT NULL REFERENCES conversations(conversation_id),
    resolve_id INTEGER NOT NULL UNIQUE,     -- the ownership log's `resolve` line it rates
    agent_id INTEGER,
    score INTEGER NOT NULL CHECK (score BETWEEN 1 AND 5),
    comment TEXT,
    day TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ratings_day ON ratings(day);
"""

# the review list (desk/store/reviews.py): what the bot read in each shopper message it
# was asked about, and the messages to review, each at most once
REVIEW_SCHEMA = """
CREATE TABLE IF NOT EXISTS message_parses (
    message_id INTEGER,                     -- the shopper message (the desk's number)
    intent TEXT,
    confidence REAL,
    ranking TEXT,                           -- JSON: [{"name", "confidence"}], best first
    entities TEXT,                          -- JSON: [{"entity", "value", "start", "end"}]
    language TEXT,                          -- the language the bot read it in
    created_at TEXT NOT NULL,
    PRIMARY KEY (message_id)
);
CREATE TABLE IF NOT EXISTS reviews (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id INTEGER NOT NULL UNIQUE,     -- the shopper message: never twice
    conversation_id TEXT NOT NULL REFERENCES conversations(conversation_id),
    text TEXT NOT NULL,
    language TEXT NOT NULL CHECK (language IN ('zh', 'en')),
    reason TEXT NOT NULL CHECK (reason IN ('not_understood', 'before_handoff',
                                           'draft_edited', 'draft_skipped')),
    bot_intent TEXT,                        -- what the bot read, when it entered the list
    bot_confidence REAL,
    bot_ranking TEXT,                       -- JSON
    bot_entities TEXT,                      -- JSON
    created_at TEXT NOT NULL,
    reviewer_id INTEGER REFERENCES agents(agent_id),
    confirmed_intent TEXT,
    confirmed_entities TEXT,                -- JSON
    reviewed_at TEXT
);
CREATE INDEX IF NOT EXISTS reviews_pending ON reviews(reviewed_at, id);
CREATE INDEX IF NOT EXISTS reviews_conversation ON reviews(conversation_id);
"""


# columns added after the first release: (table, column, declaration)
ADDED_COLUMNS = [
    ("conversations", "requested_discount_pct", "REAL"),
    ("handoffs", "requested_discount_pct", "REAL"),
    ("conversations", "seq", "INTEGER"),
    ("agents", "last_seen_at", "TEXT"),
    ("conversations", "read_upto", "INTEGER"),
    ("messages", "state", "TEXT"),
    ("messages", "owner_id", "INTEGER"),
    ("handoffs", "message_id", "INTEGER"),
]
# indexes on added columns: made once the columns exist (both databases)
ADDED_INDEXES = """
CREATE INDEX IF NOT EXISTS conversations_seq ON conversations(seq);
"""
# an older SQLite file's conversations get their seq from the rowid they were ordered by
SQLITE_BACKFILL = "UPDATE conversations SET seq = rowid WHERE seq IS NULL"

# a SQLite column type and the same type in PostgreSQL
POSTGRES_TYPES = {"INTEGER": "INTEGER", "TEXT": "TEXT", "REAL": "DOUBLE PRECISION",
                  "BLOB": "BYTEA"}
# a key the database numbers: SQLite's rowid alias, PostgreSQL's identity column
SQLITE_NUMBERED_KEY = re.compile(r"\bINTEGER PRIMARY KEY(?: AUTOINCREMENT)?\b")
POSTGRES_NUMBERED_KEY = "INTEGER GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"
# the start of a column's definition in a CREATE TABLE (a line of its own) or an ADD COLUMN
COLUMN = re.compile(r"^(?P<indent>[ \t]*)(?P<name>\w+) (?P<type>[A-Z]+)\b", re.MULTILINE)
# lines that begin with a keyword, not a column: statements and table constraints
NOT_COLUMNS = {"CREATE", "PRIMARY", "UNIQUE", "CHECK", "FOREIGN", "CONSTRAINT"}


def postgres_ddl(sqlite_ddl: str) -> str:
    """The same tables, columns and indexes in PostgreSQL's words: each column's type
    through `POSTGRES_TYPES` (a type missing there raises `ValueError`), a column key
    `INTEGER PRIMARY KEY [AUTOINCREMENT]` as an identity column; the rest (NOT NULL,
    DEFAULT, CHECK, UNIQUE, REFERENCES, table constraints, indexes, comments) is the
    same text in both."""
    def column(match: re.Match) -> str:
        name, sqlite_type = match["name"], match["type"]
        if name.upper() in NOT_COLUMNS:
            return match[0]
        if sqlite_type not in POSTGRES_TYPES:
            raise ValueError(f"column {name}: no PostgreSQL type for {sqlite_type!r}")
        return f"{match['indent']}{name} {POSTGRES_TYPES[sqlite_type]}"

    return COLUMN.sub(column, SQLITE_NUMBERED_KEY.sub(POSTGRES_NUMBERED_KEY, sqlite_ddl))


POSTGRES_SCHEMA = postgres_ddl(SCHEMA + REVIEW_SCHEMA)


def _statements(script: str) -> list[str]:
    return [stmt for stmt in script.split(";") if stmt.strip()]


def apply(conn: sqlite3.Connection) -> None:
    """SQLite: create the tables and indexes that are missing, add the missing columns."""
    for stmt in _statements(SCHEMA + REVIEW_SCHEMA):
        conn.execute(stmt)
    for table, column, declaration in ADDED_COLUMNS:
        have = {row["name"] for row in conn.execute(f"PRAGMA table_info({table})")}
        if column not in have:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")
    conn.execute(SQLITE_BACKFILL)
    for stmt in _statements(ADDED_INDEXES):
        conn.execute(stmt)


def apply_postgres(conn) -> None:
    """PostgreSQL: the same, inside the desk's write lock (desk/store/postgres.py)."""
    for stmt in _statements(POSTGRES_SCHEMA):
        conn.execute(stmt)
    for table, column, declaration in ADDED_COLUMNS:
        conn.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS"
                     f" {postgres_ddl(f'{column} {declaration}')}")
    for stmt in _statements(ADDED_INDEXES):
        conn.execute(stmt)

