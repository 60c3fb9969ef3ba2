"""The desk's record: agents, log-in sessions, conversations, messages, suggestions, the
ownership log, out-of-hours contact messages and canned replies, in one SQLite file.

Durability: WAL journal with `synchronous=FULL`, so a transaction is on disk (fsync of
the WAL) when `COMMIT` returns; every method that stores a message returns only after its
commit, and the desk answers or pushes only after that. (NORMAL would survive a crash of
the desk but could lose the latest acknowledged messages on a power cut.)

Concurrency: one connection per `DeskStore`, guarded by a lock; the async desk runs each
call on the store's single worker thread (`await store.run(...)`) so the event loop never
waits on the disk. Every ownership change is one `BEGIN IMMEDIATE` transaction (see
desk/routing.py), which also holds across processes sharing the file.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import hmac
import json
import secrets
import sqlite3
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

from . import routing

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
    created_at TEXT NOT NULL
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
    contact TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    queued_at TEXT,
    assigned_at TEXT,
    resolved_at TEXT,
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
    day TEXT NOT NULL,                      -- shop-local date of queued_at
    queued_at TEXT NOT NULL
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
"""

DEMO_AGENTS = [
    # username, display name, role, languages
    ("lily", "Lily", "agent", "zh,en"),
    ("wang", "小王", "agent", "zh"),
    ("tom", "Tom", "agent", "en"),
    ("boss", "Boss", "supervisor", "zh,en"),
]

CANNED = [
    ("zh", "问候", "亲，您好～我是客服{{agent_name}}，很高兴为您服务！"),
    ("zh", "商品", "亲，您看的{{shopper_product}}现在有货，喜欢的话可以直接拍下哦～"),
    ("zh", "订单", "亲，订单{{order_id}}我这边帮您查一下，请稍等～"),
    ("zh", "结束", "亲，还有其他问题随时找我哦，祝您购物愉快～"),
    ("en", "Greeting", "Hi! I'm {{agent_name}} from the shop team, happy to help."),
    ("en", "Product", "{{shopper_product}} is in stock right now; you can order it "
                      "straight away."),
    ("en", "Order", "Let me look up order {{order_id}} for you, one moment."),
    ("en", "Closing", "Anything else, just ask. Happy shopping!"),
]


class DeskError(Exception):
    """A request the desk refuses; `status` is the HTTP status to answer with."""

    status = 400

    def __init__(self, message: str, status: int | None = None, **extra: Any):
        super().__init__(message)
        if status is not None:
            self.status = status
        self.extra = extra


class NotFound(DeskError):
    status = 404


class Forbidden(DeskError):
    status = 403


class Conflict(DeskError):
    status = 409


# -- passwords and tokens ---------------------------------------------------------------------
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2 ** 14, 8, 1


def hash_password(password: str, *, n: int = SCRYPT_N, r: int = SCRYPT_R,
                  p: int = SCRYPT_P) -> str:
    """A salted scrypt hash with its parameters: "scrypt$n$r$p$salt$hash" (hex)."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=32)
    return f"scrypt${n}${r}${p}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        algo, n, r, p, salt, digest = stored.split("$")
        if algo != "scrypt":
            return False
        got = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=int(n),
                             r=int(r), p=int(p), dklen=len(bytes.fromhex(digest)),
                             maxmem=256 * 1024 * 1024)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got.hex(), digest)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _json(value: Any) -> Optional[str]:
    return None if value is None else json.dumps(value, ensure_ascii=False)


def _load(text: Optional[str]) -> Any:
    return None if text is None else json.loads(text)


def _ts(t: datetime) -> str:
    return t.isoformat(timespec="milliseconds")


def _log_handoff(c: sqlite3.Connection, conversation_id: str, reason: str,
                 now: datetime) -> None:
    c.execute("INSERT INTO handoffs (conversation_id, reason, day, queued_at)"
              " VALUES (?, ?, ?, ?)",
              (conversation_id, reason, routing.today_key(now), _ts(now)))


def message_dict(row: sqlite3.Row) -> dict:
    return {"id": row["id"], "conversation_id": row["conversation_id"],
            "sender": row["sender"], "text": row["text"],
            "buttons": _load(row["buttons"]) or [], "image": row["image"],
            "custom": _load(row["custom"]), "created_at": row["created_at"],
            "client_id": row["client_id"], "agent_name": row["agent_name"]}


def suggestion_dict(row: sqlite3.Row) -> dict:
    return {"id": row["id"], "conversation_id": row["conversation_id"],
            "message_id": row["message_id"], "text": row["text"],
            "buttons": _load(row["buttons"]) or [], "custom": _load(row["custom"]),
            "facts": _load(row["facts"]) or {}, "kind": row["kind"],
            "outcome": row["outcome"], "final_text": row["final_text"],
            "created_at": row["created_at"]}



def _conversation_row(c: sqlite3.Connection, conversation_id: str,
                      columns: str = "*") -> sqlite3.Row:
    """One conversation's row inside a transaction, or NotFound."""
    row = c.execute(f"SELECT {columns} FROM conversations WHERE conversation_id = ?",
                    (conversation_id,)).fetchone()
    if row is None:
        raise NotFound("no such conversation")
    return row

class DeskStore:
    """The desk's SQLite record (see the module docstring)."""

    def __init__(self, path: str | Path, *, clock: Callable[[], datetime] | None = None,
                 agent_cap: int = 8, daily_cap: int = 120, reopen_minutes: int = 30,
                 default_handle_s: int = 300):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.clock = clock or (lambda: datetime.now().astimezone())
        self.agent_cap = agent_cap
        self.daily_cap = daily_cap
        self.reopen_minutes = reopen_minutes
        self.default_handle_s = default_handle_s
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(str(self.path), timeout=60, isolation_level=None,
                                     check_same_thread=False)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.execute("PRAGMA foreign_keys=ON")
        with self.tx() as c:
            for stmt in SCHEMA.split(";"):
                if stmt.strip():
                    c.execute(stmt)
        self._executor: ThreadPoolExecutor | None = None

    @classmethod
    def from_settings(cls, settings, clock: Callable[[], datetime] | None = None) \
            -> "DeskStore":
        return cls(settings.desk_db, clock=clock or settings.now,
                   agent_cap=settings.desk_agent_cap, daily_cap=settings.desk_daily_cap,
                   reopen_minutes=settings.desk_reopen_minutes,
                   default_handle_s=settings.desk_default_handle_s)

    # -- plumbing ----------------------------------------------------------------------------
    @contextlib.contextmanager
    def tx(self):
        """A write transaction (BEGIN IMMEDIATE: the database's write lock is taken at once,
        so what is read inside cannot change before the commit)."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _all(self, sql: str, params: Iterable = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._conn.execute(sql, tuple(params)).fetchall()

    def _one(self, sql: str, params: Iterable = ()) -> Optional[sqlite3.Row]:
        with self._lock:
            return self._conn.execute(sql, tuple(params)).fetchone()

    async def run(self, fn: Callable, *args: Any, **kwargs: Any) -> Any:
        """Run a store method on the store's worker thread (off the event loop)."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="desk-db")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor,
                                          functools.partial(fn, *args, **kwargs))

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        with self._lock:
            self._conn.close()

    # -- agents ------------------------------------------------------------------------------
    def add_agent(self, username: str, password: str, *, display_name: str | None = None,
                  role: str = "agent", languages: Iterable[str] = ("zh", "en"),
                  cap: int | None = None, daily_cap: int | None = None) -> dict:
        """Create an agent (the CLI-free way to add one); returns the agent."""
        if role not in ("agent", "supervisor"):
            raise DeskError("role must be agent or supervisor")
        langs = [lang for lang in languages if lang in ("zh", "en")]
        if not username or not password or not langs:
            raise DeskError("username, password and a language (zh, en) are needed")
        with self.tx() as c:
            try:
                cur = c.execute(
                    "INSERT INTO agents (username, display_name, role, languages, password,"
                    " cap, daily_cap, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (username, display_name or username, role, ",".join(langs),
                     hash_password(password), cap or self.agent_cap,
                     daily_cap or self.daily_cap, _ts(self.clock())))
            except sqlite3.IntegrityError as exc:
                raise Conflict(f"agent {username!r} exists") from exc
        return self.agent(cur.lastrowid)

    def ensure_demo_agents(self) -> None:
        """lily (zh+en), wang (zh), tom (en), supervisor boss; passwords demo-<name>."""
        for username, name, role, langs in DEMO_AGENTS:
            if self._one("SELECT 1 FROM agents WHERE username = ?", (username,)) is None:
                with contextlib.suppress(Conflict):
                    self.add_agent(username, f"demo-{username}", display_name=name,
                                   role=role, languages=langs.split(","))
        with self.tx() as c:
            if c.execute("SELECT COUNT(*) FROM canned_replies").fetchone()[0] == 0:
                c.executemany("INSERT INTO canned_replies (locale, title, text)"
                              " VALUES (?, ?, ?)", CANNED)

    def agent(self, agent_id: int) -> Optional[dict]:
        day = routing.today_key(self.clock())
        row = self._one(
            "SELECT a.*, (SELECT COUNT(*) FROM conversations c WHERE c.agent_id = a.agent_id"
            " AND c.state = 'assigned') AS active, (SELECT COUNT(*) FROM assignments s"
            " WHERE s.agent_id = a.agent_id AND s.day = ? AND s.kind IN"
            " ('assign', 'reassign')) AS today FROM agents a WHERE a.agent_id = ?",
            (day, agent_id))
        if row is None:
            return None
        return {"agent_id": row["agent_id"], "username": row["username"],
                "display_name": row["display_name"], "role": row["role"],
                "languages": row["languages"].split(","), "status": row["status"],
                "active": row["active"], "today": row["today"], "cap": row["cap"],
                "daily_cap": row["daily_cap"]}

    def agents(self) -> list[dict]:
        return [self.agent(r[0]) for r in self._all("SELECT agent_id FROM agents"
                                                    " ORDER BY agent_id")]

    def authenticate(self, username: str, password: str) -> Optional[dict]:
        row = self._one("SELECT agent_id, password FROM agents WHERE username = ?"
                        " AND enabled = 1", (username,))
        if row is None:
            verify_password(password, hash_password("x"))   # same time either way
            return None
        return self.agent(row["agent_id"]) if verify_password(password, row["password"]) \
            else None

    def set_status(self, agent_id: int, status: str) -> list[tuple[str, int]]:
        """online/away; going online drains the queue. Returns the assignments made."""
        if status not in ("online", "away"):
            raise DeskError("status must be online or away")
        with self.tx() as c:
            c.execute("UPDATE agents SET status = ? WHERE agent_id = ?", (status, agent_id))
            return routing.drain(c, self.clock()) if status == "online" else []

    # -- sessions ----------------------------------------------------------------------------
    def create_session(self, agent_id: int, hours: int = 12) -> tuple[str, str]:
        """(cookie value, CSRF token) for a new log-in."""
        sid, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        now = self.clock()
        with self.tx() as c:
            c.execute("DELETE FROM sessions WHERE expires_at < ?", (_ts(now),))
            c.execute("INSERT INTO sessions VALUES (?, ?, ?, ?, ?)",
                      (token_hash(sid), agent_id, csrf, _ts(now),
                       _ts(now + timedelta(hours=hours))))
        return sid, csrf

    def session(self, sid: str) -> Optional[tuple[dict, str]]:
        """(agent, CSRF token) for a session cookie, or None."""
        if not sid:
            return None
        row = self._one("SELECT agent_id, csrf_token, expires_at FROM sessions"
                        " WHERE session_hash = ?", (token_hash(sid),))
        if row is None or datetime.fromisoformat(row["expires_at"]) < self.clock():
            return None
        agent = self.agent(row["agent_id"])
        return (agent, row["csrf_token"]) if agent else None

    def delete_session(self, sid: str) -> None:
        with self.tx() as c:
            c.execute("DELETE FROM sessions WHERE session_hash = ?", (token_hash(sid),))

    # -- conversations -----------------------------------------------------------------------
    def create_conversation(self, locale: str, page: Optional[dict] = None,
                            customer_id: Optional[str] = None) -> tuple[dict, str]:
        """A new conversation with the bot; returns (conversation, shopper token)."""
        cid, token = uuid.uuid4().hex, secrets.token_urlsafe(32)
        now = _ts(self.clock())
        with self.tx() as c:
            c.execute("INSERT INTO conversations (conversation_id, token_hash, locale, state,"
                      " customer_id, page, created_at, updated_at) VALUES"
                      " (?, ?, ?, 'bot', ?, ?, ?, ?)",
                      (cid, token_hash(token), locale, customer_id, _json(page or {}),
                       now, now))
        return self.conversation(cid), token

    def conversation(self, conversation_id: str) -> Optional[dict]:
        row = self._one("SELECT * FROM conversations WHERE conversation_id = ?",
                        (conversation_id,))
        if row is None:
            return None
        out = dict(row)
        out.pop("token_hash")
        out["page"] = _load(out["page"]) or {}
        out["cart"] = _load(out["cart"])
        return out

    def authorize(self, conversation_id: str, token: str) -> dict:
        """The conversation if `token` is its shopper token; NotFound / Forbidden else."""
        row = self._one("SELECT token_hash FROM conversations WHERE conversation_id = ?",
                        (conversation_id,))
        if row is None:
            raise NotFound("no such conversation")
        if not token or not hmac.compare_digest(row["token_hash"], token_hash(token)):
            raise Forbidden("this token does not open this conversation")
        return self.conversation(conversation_id)

    def add_shopper_message(self, conversation_id: str, text: str,
                            client_id: Optional[str] = None,
                            metadata: Optional[dict] = None) -> dict:
        """Store a shopper message (committed on return).

        Returns {"message", "duplicate": bool, "conversation", "events": [...]} where a
        duplicate is a `client_id` seen before (nothing new is stored). A resolved
        conversation reopens with its owner within the reopen window (event "reopened";
        queued for that owner when they are at their cap) and starts over with the bot
        after it (event "restarted").
        """
        metadata = metadata or {}
        now = self.clock()
        events: list[dict] = []
        with self.tx() as c:
            if client_id:
                row = c.execute("SELECT * FROM messages WHERE conversation_id = ? AND"
                                " client_id = ?", (conversation_id, client_id)).fetchone()
                if row is not None:
                    return {"message": message_dict(row), "duplicate": True,
                            "conversation": None, "events": []}
            conv = _conversation_row(c, conversation_id, "*")
            if conv["state"] == "resolved":
                events += self._reopen_or_restart(c, conv, now)
            sets, params = ["updated_at = ?"], [_ts(now)]
            page = metadata.get("page")
            if isinstance(page, dict):
                sets.append("page = ?")
                params.append(_json(page))
            if isinstance(metadata.get("cart"), list):
                sets.append("cart = ?")
                params.append(_json(metadata["cart"]))
            if metadata.get("locale") in ("zh", "en"):
                sets.append("locale = ?")
                params.append(metadata["locale"])
            if metadata.get("customer_id") and not conv["customer_id"]:
                sets.append("customer_id = ?")
                params.append(str(metadata["customer_id"])[:200])
            c.execute(f"UPDATE conversations SET {', '.join(sets)} WHERE conversation_id = ?",
                      (*params, conversation_id))
            cur = c.execute("INSERT INTO messages (conversation_id, sender, text, client_id,"
                            " created_at) VALUES (?, 'shopper', ?, ?, ?)",
                            (conversation_id, text, client_id, _ts(now)))
            msg = c.execute("SELECT * FROM messages WHERE id = ?", (cur.lastrowid,)).fetchone()
        return {"message": message_dict(msg), "duplicate": False,
                "conversation": self.conversation(conversation_id), "events": events}

    def _reopen_or_restart(self, c: sqlite3.Connection, conv: sqlite3.Row,
                           now: datetime) -> list[dict]:
        cid, owner = conv["conversation_id"], conv["agent_id"]
        resolved = datetime.fromisoformat(conv["resolved_at"]) if conv["resolved_at"] \
            else now
        if owner is not None and now - resolved <= timedelta(minutes=self.reopen_minutes):
            agent = c.execute("SELECT cap, status FROM agents WHERE agent_id = ?",
                              (owner,)).fetchone()
            active = c.execute("SELECT COUNT(*) FROM conversations WHERE agent_id = ? AND"
                               " state = 'assigned'", (owner,)).fetchone()[0]
            if agent is not None and agent["status"] == "online" and active < agent["cap"]:
                c.execute("UPDATE conversations SET state = 'assigned', resolved_at = NULL,"
                          " assigned_at = ?, updated_at = ? WHERE conversation_id = ?",
                          (_ts(now), _ts(now), cid))
                routing.log(c, cid, owner, "reopen", now, reason="shopper wrote again")
                return [{"type": "reopened", "agent_id": owner}]
            # the owner is away or at the cap: queued, offered to them first (to another
            # agent only when they cannot take it), so no cap is ever exceeded
            c.execute("UPDATE conversations SET state = 'queued', agent_id = NULL,"
                      " preferred_agent_id = ?, resolved_at = NULL, queued_at = ?,"
                      " updated_at = ? WHERE conversation_id = ?",
                      (owner, _ts(now), _ts(now), cid))
            done = routing.drain(c, now)
            return [{"type": "queued"}] + [{"type": "assigned", "conversation_id": a,
                                             "agent_id": b} for a, b in done]
        c.execute("UPDATE conversations SET state = 'bot', agent_id = NULL,"
                  " handoff_reason = NULL, resolved_at = NULL, queued_at = NULL,"
                  " assigned_at = NULL, updated_at = ? WHERE conversation_id = ?",
                  (_ts(now), cid))
        return [{"type": "restarted"}]

    def add_messages(self, conversation_id: str, sender: str, replies: list[dict],
                     reply_to: Optional[int] = None, agent: Optional[dict] = None) -> list[dict]:
        """Store bot/system/agent messages in one transaction; returns them stored."""
        now = _ts(self.clock())
        ids = []
        with self.tx() as c:
            for r in replies:
                cur = c.execute(
                    "INSERT INTO messages (conversation_id, sender, text, buttons, image,"
                    " custom, reply_to, agent_id, agent_name, created_at) VALUES"
                    " (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (conversation_id, sender, str(r.get("text") or ""),
                     _json(r.get("buttons") or None), r.get("image"),
                     _json(r.get("custom")), reply_to,
                     agent["agent_id"] if agent else None,
                     agent["display_name"] if agent else None, now))
                ids.append(cur.lastrowid)
            c.execute("UPDATE conversations SET updated_at = ? WHERE conversation_id = ?",
                      (now, conversation_id))
        return self.messages_by_id(ids)

    def messages_by_id(self, ids: list[int]) -> list[dict]:
        if not ids:
            return []
        rows = self._all(f"SELECT * FROM messages WHERE id IN ({','.join('?' * len(ids))})"
                         " ORDER BY id", ids)
        return [message_dict(r) for r in rows]

    def replies_to(self, message_id: int) -> list[dict]:
        """The stored replies the shopper saw for one of their messages."""
        return [message_dict(r) for r in self._all(
            "SELECT * FROM messages WHERE reply_to = ? AND sender IN ('bot', 'system')"
            " ORDER BY id", (message_id,))]

    def history(self, conversation_id: str, after: int = 0, limit: int = 1000) -> list[dict]:
        return [message_dict(r) for r in self._all(
            "SELECT * FROM messages WHERE conversation_id = ? AND id > ? ORDER BY id LIMIT ?",
            (conversation_id, after, limit))]

    def handoff(self, conversation_id: str, reason: str,
                preferred_agent_id: Optional[int] = None) -> dict:
        """Hand a bot conversation to the humans: queued, then assigned when someone can
        take it. Returns {"changed": bool, "assigned": [(conversation_id, agent_id)]}."""
        now = self.clock()
        with self.tx() as c:
            conv = _conversation_row(c, conversation_id, "state, customer_id")
            if conv["state"] != "bot":
                return {"changed": False, "assigned": []}
            if preferred_agent_id is None:
                # a returning shopper: the agent of their latest conversation (or of an
                # earlier cycle of this one)
                prev = c.execute(
                    "SELECT s.agent_id FROM assignments s WHERE s.kind IN ('assign',"
                    " 'reassign') AND (s.conversation_id = ? OR s.conversation_id IN"
                    " (SELECT conversation_id FROM conversations WHERE customer_id = ?))"
                    " ORDER BY s.id DESC LIMIT 1",
                    (conversation_id, conv["customer_id"])).fetchone()
                preferred_agent_id = prev[0] if prev else None
            c.execute("UPDATE conversations SET state = 'queued', queued_at = ?,"
                      " handoff_reason = ?, preferred_agent_id = ?, updated_at = ?"
                      " WHERE conversation_id = ?",
                      (_ts(now), reason, preferred_agent_id, _ts(now), conversation_id))
            _log_handoff(c, conversation_id, reason, now)
            return {"changed": True, "assigned": routing.drain(c, now)}

    def drain(self) -> list[tuple[str, int]]:
        with self.tx() as c:
            return routing.drain(c, self.clock())

    def resolve(self, conversation_id: str, agent: dict) -> list[tuple[str, int]]:
        """The owner (or a supervisor) resolves; frees a place, so the queue drains."""
        now = self.clock()
        with self.tx() as c:
            conv = _conversation_row(c, conversation_id, "state, agent_id")
            if conv["state"] != "assigned":
                raise Conflict(f"conversation is {conv['state']}, not assigned")
            if conv["agent_id"] != agent["agent_id"] and agent["role"] != "supervisor":
                raise Forbidden("only the owner resolves a conversation")
            c.execute("UPDATE conversations SET state = 'resolved', resolved_at = ?,"
                      " updated_at = ? WHERE conversation_id = ?",
                      (_ts(now), _ts(now), conversation_id))
            routing.log(c, conversation_id, conv["agent_id"], "resolve", now,
                        by_agent_id=agent["agent_id"])
            return routing.drain(c, now)

    def reassign(self, conversation_id: str, to_agent_id: int, reason: str,
                 by: dict) -> None:
        """A supervisor gives an assigned or queued conversation to another agent (the only
        way ownership moves), recorded with the reason. The target's caps hold."""
        if by.get("role") != "supervisor":
            raise Forbidden("only a supervisor can reassign")
        if not reason or not str(reason).strip():
            raise DeskError("a reason is required")
        now = self.clock()
        with self.tx() as c:
            conv = _conversation_row(c, conversation_id, "state, agent_id")
            if conv["state"] not in ("assigned", "queued"):
                raise Conflict(f"conversation is {conv['state']}")
            target = c.execute("SELECT agent_id, cap, daily_cap FROM agents WHERE agent_id = ?"
                               " AND enabled = 1", (to_agent_id,)).fetchone()
            if target is None:
                raise NotFound("no such agent")
            if conv["agent_id"] == to_agent_id:
                raise Conflict("that agent already owns it")
            active = c.execute("SELECT COUNT(*) FROM conversations WHERE agent_id = ? AND"
                               " state = 'assigned'", (to_agent_id,)).fetchone()[0]
            today = c.execute("SELECT COUNT(*) FROM assignments WHERE agent_id = ? AND"
                              " day = ? AND kind IN ('assign', 'reassign')",
                              (to_agent_id, routing.today_key(now))).fetchone()[0]
            if active >= target["cap"] or today >= target["daily_cap"]:
                raise Conflict("that agent is at their cap")
            c.execute("UPDATE conversations SET state = 'assigned', agent_id = ?,"
                      " assigned_at = COALESCE(assigned_at, ?), preferred_agent_id = NULL,"
                      " updated_at = ? WHERE conversation_id = ?",
                      (to_agent_id, _ts(now), _ts(now), conversation_id))
            routing.log(c, conversation_id, to_agent_id, "reassign", now, reason=reason,
                        from_agent_id=conv["agent_id"], by_agent_id=by["agent_id"])

    def leave_contact(self, conversation_id: str, contact: str, text: str,
                      locale: str) -> dict:
        """Out of hours: a contact and a question become a queued conversation."""
        now = self.clock()
        with self.tx() as c:
            conv = _conversation_row(c, conversation_id, "state")
            c.execute("INSERT INTO contact_messages (conversation_id, contact, text, locale,"
                      " created_at) VALUES (?, ?, ?, ?, ?)",
                      (conversation_id, contact, text, locale, _ts(now)))
            cur = c.execute("INSERT INTO messages (conversation_id, sender, text, custom,"
                            " created_at) VALUES (?, 'shopper', ?, ?, ?)",
                            (conversation_id, text,
                             _json({"type": "contact", "contact": contact}), _ts(now)))
            c.execute("UPDATE conversations SET contact = ?, updated_at = ?"
                      " WHERE conversation_id = ?", (contact, _ts(now), conversation_id))
            if conv["state"] in ("bot", "resolved"):
                c.execute("UPDATE conversations SET state = 'queued', agent_id = NULL,"
                          " queued_at = ?, resolved_at = NULL,"
                          " handoff_reason = 'contact' WHERE conversation_id = ?",
                          (_ts(now), conversation_id))
                _log_handoff(c, conversation_id, "contact", now)
            assigned = routing.drain(c, now)
            msg = c.execute("SELECT * FROM messages WHERE id = ?", (cur.lastrowid,)).fetchone()
        return {"message": message_dict(msg), "assigned": assigned}

    def queue(self) -> list[dict]:
        with self._lock:
            ids = [r["conversation_id"] for r in routing.queued(self._conn)]
        return [self.summary(i) for i in ids]

    def queue_estimates(self) -> dict[str, dict]:
        with self._lock:
            return routing.queue_estimates(self._conn, self.clock(), self.default_handle_s,
                                           self.agent_cap)

    def conversations_of(self, agent_id: int) -> list[dict]:
        rows = self._all("SELECT conversation_id FROM conversations WHERE agent_id = ? AND"
                         " state = 'assigned' ORDER BY assigned_at, rowid", (agent_id,))
        return [self.summary(r[0]) for r in rows]

    def assigned_conversations(self) -> list[dict]:
        """Every conversation an agent owns now (what a supervisor oversees)."""
        rows = self._all("SELECT conversation_id FROM conversations WHERE state = 'assigned'"
                         " ORDER BY assigned_at, rowid")
        return [self.summary(r[0]) for r in rows]

    def summary(self, conversation_id: str) -> Optional[dict]:
        row = self._one(
            "SELECT c.*, a.display_name AS agent_name FROM conversations c LEFT JOIN agents a"
            " ON a.agent_id = c.agent_id WHERE c.conversation_id = ?", (conversation_id,))
        if row is None:
            return None
        last = self._one("SELECT * FROM messages WHERE conversation_id = ? ORDER BY id DESC"
                         " LIMIT 1", (conversation_id,))
        unread = self._one(
            "SELECT COUNT(*) FROM messages WHERE conversation_id = ? AND sender = 'shopper'"
            " AND id > COALESCE((SELECT MAX(id) FROM messages WHERE conversation_id = ? AND"
            " sender = 'agent'), 0)", (conversation_id, conversation_id))[0]
        return {"conversation_id": row["conversation_id"], "state": row["state"],
                "locale": row["locale"], "agent_id": row["agent_id"],
                "agent_name": row["agent_name"], "handoff_reason": row["handoff_reason"],
                "last_message": message_dict(last) if last else None, "unread": unread,
                "created_at": row["created_at"], "queued_at": row["queued_at"],
                "page": _load(row["page"]) or {}, "customer_id": row["customer_id"],
                "contact": row["contact"]}

    def ownership_log(self, conversation_id: Optional[str] = None) -> list[dict]:
        if conversation_id:
            rows = self._all("SELECT * FROM assignments WHERE conversation_id = ? ORDER BY id",
                             (conversation_id,))
        else:
            rows = self._all("SELECT * FROM assignments ORDER BY id")
        return [dict(r) for r in rows]

    def status_counts(self, locale: Optional[str] = None) -> dict:
        """Agents online, queue length and the wait a shopper joining now can expect
        (for one language when given)."""
        now = self.clock()
        with self._lock:
            loads = routing.online_agents(self._conn, routing.today_key(now))
            q = [r["locale"] for r in routing.queued(self._conn)]
            avg = routing.average_handling_s(self._conn, self.default_handle_s)
        loads = [a for a in loads if not locale or locale in a.languages]
        n_queue = sum(1 for lang in q if not locale or lang == locale)
        if any(a.can_take(locale or lang) for a in loads for lang in ("zh", "en")) \
                and n_queue == 0:
            wait = 0
        else:
            slots = sum(a.cap for a in loads) or self.agent_cap
            wait = int(-(-(n_queue + 1) * avg // slots))
        return {"agents_online": len(loads), "queue_length": n_queue,
                "estimated_wait_s": wait}

    # -- suggestions -------------------------------------------------------------------------
    def add_suggestions(self, conversation_id: str, message_id: int,
                        items: list[dict]) -> list[dict]:
        """items: [{"kind", "text", "buttons", "custom", "facts"}]."""
        now = _ts(self.clock())
        ids = []
        with self.tx() as c:
            for s in items:
                cur = c.execute(
                    "INSERT INTO suggestions (conversation_id, message_id, kind, text,"
                    " buttons, custom, facts, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (conversation_id, message_id, s["kind"], s.get("text") or "",
                     _json(s.get("buttons") or None), _json(s.get("custom")),
                     _json(s.get("facts") or {}), now))
                ids.append(cur.lastrowid)
        return [self.suggestion(i) for i in ids]

    def suggestion(self, sid: int) -> Optional[dict]:
        row = self._one("SELECT * FROM suggestions WHERE id = ?", (sid,))
        return suggestion_dict(row) if row else None

    def suggestions(self, conversation_id: str) -> list[dict]:
        return [suggestion_dict(r) for r in self._all(
            "SELECT * FROM suggestions WHERE conversation_id = ? ORDER BY id",
            (conversation_id,))]

    def skip_suggestion(self, sid: int, agent: dict) -> dict:
        now = _ts(self.clock())
        with self.tx() as c:
            row = c.execute("SELECT s.outcome, c.agent_id FROM suggestions s JOIN"
                            " conversations c ON c.conversation_id = s.conversation_id"
                            " WHERE s.id = ?", (sid,)).fetchone()
            if row is None:
                raise NotFound("no such suggestion")
            if row["agent_id"] != agent["agent_id"]:
                raise Forbidden("not your conversation")
            if row["outcome"] is not None:
                raise Conflict(f"suggestion already {row['outcome']}")
            c.execute("UPDATE suggestions SET outcome = 'rejected', agent_id = ?,"
                      " decided_at = ? WHERE id = ?", (agent["agent_id"], now, sid))
        return self.suggestion(sid)

    def send_agent_message(self, conversation_id: str, agent: dict, text: str,
                           suggestion_id: Optional[int] = None) -> dict:
        """The owner writes to the shopper (committed on return); with a suggestion, its
        outcome (accepted when sent as drafted, else edited) and final text are recorded in
        the same transaction. Returns {"message", "suggestion"}."""
        now = _ts(self.clock())
        with self.tx() as c:
            conv = _conversation_row(c, conversation_id, "state, agent_id")
            if conv["state"] != "assigned" or conv["agent_id"] != agent["agent_id"]:
                raise Forbidden("only the owner of an assigned conversation writes in it")
            sugg = None
            if suggestion_id is not None:
                sugg = c.execute("SELECT * FROM suggestions WHERE id = ? AND"
                                 " conversation_id = ?", (suggestion_id, conversation_id)
                                 ).fetchone()
                if sugg is None:
                    raise NotFound("no such suggestion in this conversation")
                if sugg["outcome"] is not None:
                    raise Conflict(f"suggestion already {sugg['outcome']}")
            custom = _load(sugg["custom"]) if sugg else None
            buttons = sugg["buttons"] if sugg and text == sugg["text"] else None
            cur = c.execute(
                "INSERT INTO messages (conversation_id, sender, text, buttons, custom,"
                " agent_id, agent_name, created_at) VALUES (?, 'agent', ?, ?, ?, ?, ?, ?)",
                (conversation_id, text, buttons, _json(custom), agent["agent_id"],
                 agent["display_name"], now))
            mid = cur.lastrowid
            if sugg is not None:
                outcome = "accepted" if text == sugg["text"] else "edited"
                c.execute("UPDATE suggestions SET outcome = ?, final_text = ?,"
                          " sent_message_id = ?, agent_id = ?, decided_at = ? WHERE id = ?",
                          (outcome, text, mid, agent["agent_id"], now, suggestion_id))
            c.execute("UPDATE conversations SET updated_at = ? WHERE conversation_id = ?",
                      (now, conversation_id))
        return {"message": self.messages_by_id([mid])[0],
                "suggestion": self.suggestion(suggestion_id) if suggestion_id else None}

    # -- canned replies ----------------------------------------------------------------------
    def canned(self, locale: str) -> list[dict]:
        return [dict(r) for r in self._all("SELECT id, title, text FROM canned_replies"
                                           " WHERE locale = ? ORDER BY id", (locale,))]

    def add_canned(self, locale: str, title: str, text: str) -> dict:
        with self.tx() as c:
            cur = c.execute("INSERT INTO canned_replies (locale, title, text) VALUES"
                            " (?, ?, ?)", (locale, title, text))
        return {"id": cur.lastrowid, "title": title, "text": text}
