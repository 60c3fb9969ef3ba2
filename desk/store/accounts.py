"""Accounts and sessions: agents (salted scrypt passwords, languages, caps, online/away),
agents' log-in sessions (only the cookie's hash is stored), and the canned replies of the
console. The demo agents and canned replies are created here on first start.

Passwords are hashed and checked on a thread of their own (`PasswordChecker`: one worker,
at most `PASSWORD_QUEUE` checks waiting, beyond which a log-in is refused at once as
busy), never on the database's threads nor the event loop's default executor: a burst of
log-ins costs at most one core and cannot hold up a shopper's reads or writes. How often
one may try is desk/login_limit.py's business."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import re
import secrets
from datetime import datetime, timedelta
from typing import Iterable, Optional

from .. import routing
from ..errors import Conflict, DeskError, NotFound
from ..texts import TEXTS
from .db import Database
from .records import DeskPolicy, timestamp, token_hash

# -- passwords -----------------------------------------------------------------------------
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


PASSWORD_QUEUE = 16          # password checks waiting at most; more: "busy, try again"


class PasswordChecker:
    """Runs scrypt on one thread of its own, with a bounded queue (module docstring)."""

    def __init__(self, workers: int = 1, queue_limit: int = PASSWORD_QUEUE):
        from concurrent.futures import ThreadPoolExecutor

        self._pool = ThreadPoolExecutor(max_workers=workers,
                                        thread_name_prefix="desk-password")
        self.queue_limit = queue_limit
        self.pending = 0

    async def run(self, fn, *args):
        """fn(*args) on the password thread; DeskError 503 when too many are waiting."""
        if self.pending >= self.queue_limit:
            raise DeskError("log-in is busy; try again in 1 s", 503, retry_after_s=1)
        self.pending += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)
        finally:
            self.pending -= 1

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


@functools.lru_cache(maxsize=1)
def _unknown_user_hash() -> str:
    """Checked against when the username is unknown, so that both answers take as long."""
    return hash_password(secrets.token_urlsafe(16))


# -- the demo agents and canned replies ----------------------------------------------------
# username, role, languages; the display name is texts.yml's demo_agent_<username> in the
# first language they speak; password demo-<username>
DEMO_AGENTS = [
    ("lily", "agent", ("zh", "en")),
    ("wang", "agent", ("zh",)),
    ("tom", "agent", ("en",)),
    ("boss", "supervisor", ("zh", "en")),
]
# texts.yml canned_<name> (and canned_<name>_title); their {fields} become the console's
# {{variables}}, which it fills in from the conversation when the agent picks one
DEMO_CANNED = ["greeting", "product", "order", "closing"]


def demo_canned_replies() -> list[tuple[str, str, str]]:
    """(locale, title, text) of every demo canned reply, in both languages."""
    out = []
    for lang in ("zh", "en"):
        for name in DEMO_CANNED:
            key = f"canned_{name}"
            markers = {f: "{{" + f + "}}" for f in TEXTS.fields(key, lang)}
            out.append((lang, TEXTS.render(f"{key}_title", lang),
                        TEXTS.render(key, lang, **markers)))
    return out


_VARIABLE = re.compile(r"\{\{\w+\}\}")     # a canned reply's {{variable}}


# -- rows ----------------------------------------------------------------------------------
# an agent with their load now; `present` is whether they count as online now (the first
# parameter: routing.Presence.seen_since), `today` what they received that day (second)
_AGENT_SQL = (
    "SELECT a.*, " + routing.PRESENT_SQL + " AS present,"
    " (SELECT COUNT(*) FROM conversations c WHERE c.agent_id = a.agent_id"
    " AND c.state = 'assigned') AS active, (SELECT COUNT(*) FROM assignments s"
    " WHERE s.agent_id = a.agent_id AND s.day = ? AND s.kind IN ('assign', 'reassign'))"
    " AS today FROM agents a")


def _agent_dict(row) -> dict:
    """An agent as the API shows them: `status` is their presence now (online only while
    their console is connected), `chosen_status` what they last chose."""
    return {"agent_id": row["agent_id"], "username": row["username"],
            "display_name": row["display_name"], "role": row["role"],
            "languages": row["languages"].split(","),
            "status": "online" if row["present"] else "away",
            "chosen_status": row["status"], "last_seen_at": row["last_seen_at"],
            "active": row["active"], "today": row["today"], "cap": row["cap"],
            "daily_cap": row["daily_cap"], "free": max(0, row["cap"] - row["active"])}


def agent_in(conn, agent_id: int, presence: routing.Presence) -> Optional[dict]:
    """An agent with their load and presence, inside a transaction."""
    row = conn.execute(_AGENT_SQL + " WHERE a.agent_id = ?",
                       (presence.seen_since, presence.day, agent_id)).fetchone()
    return _agent_dict(row) if row else None


def agents_in(conn, presence: routing.Presence) -> list[dict]:
    """Every enabled agent with their load and presence, by id, inside a transaction."""
    return [_agent_dict(r) for r in conn.execute(
        _AGENT_SQL + " WHERE a.enabled = 1 ORDER BY a.agent_id",
        (presence.seen_since, presence.day))]


class Accounts:
    """Agents, sessions and canned replies (see the module docstring)."""

    def __init__(self, db: Database, policy: DeskPolicy):
        self.db = db
        self.policy = policy
        self.passwords = PasswordChecker()

    def close(self) -> None:
        self.passwords.close()

    # -- agents ----------------------------------------------------------------------------
    async def add_agent(self, username: str, password: str, *,
                        display_name: str | None = None, role: str = "agent",
                        languages: Iterable[str] = ("zh", "en"), cap: int | None = None,
                        daily_cap: int | None = None) -> dict:
        """Create an agent (the way to add one from code); returns the agent."""
        if role not in ("agent", "supervisor"):
            raise DeskError("role must be agent or supervisor")
        langs = [lang for lang in languages if lang in ("zh", "en")]
        if not username or not password or not langs:
            raise DeskError("username, password and a language (zh, en) are needed")
        hashed = await self.passwords.run(hash_password, password)
        now = self.policy.clock()

        def insert(c):
            try:
                agent_id = c.execute(
                    "INSERT INTO agents (username, display_name, role, languages, password,"
                    " cap, daily_cap, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                    " RETURNING agent_id",
                    (username, display_name or username, role, ",".join(langs), hashed,
                     cap or self.policy.agent_cap, daily_cap or self.policy.daily_cap,
                     timestamp(now))).fetchone()[0]
            except self.db.IntegrityError as exc:
                raise Conflict(f"agent {username!r} exists") from exc
            return agent_in(c, agent_id, self.policy.presence())

        return await self.db.write(insert)

    async def ensure_demo_agents(self) -> None:
        """lily (zh+en), wang (zh), tom (en) and supervisor boss, passwords demo-<name>,
        and the demo canned replies, unless they exist."""
        existing = set(await self.db.read(
            lambda c: [r[0] for r in c.execute("SELECT username FROM agents")]))
        for username, role, langs in DEMO_AGENTS:
            if username not in existing:
                try:
                    await self.add_agent(
                        username, f"demo-{username}", role=role, languages=langs,
                        display_name=TEXTS.render(f"demo_agent_{username}", langs[0]))
                except Conflict:
                    pass                        # another desk process made it meanwhile
        canned = demo_canned_replies()

        def seed(c):
            if c.execute("SELECT COUNT(*) FROM canned_replies").fetchone()[0] == 0:
                c.executemany("INSERT INTO canned_replies (locale, title, text)"
                              " VALUES (?, ?, ?)", canned)

        await self.db.write(seed)

    async def agent(self, agent_id: int) -> Optional[dict]:
        return await self.db.read(agent_in, agent_id, self.policy.presence())

    async def agents(self) -> list[dict]:
        """Every agent with their load and presence, by id."""
        return await self.db.read(agents_in, self.policy.presence())

    async def authenticate(self, username: str, password: str) -> Optional[dict]:
        """The agent whose username and password these are, else None (as slowly)."""
        row = await self.db.read(lambda c: c.execute(
            "SELECT agent_id, password FROM agents WHERE username = ? AND enabled = 1",
            (username,)).fetchone())
        stored = row["password"] if row else await self.passwords.run(_unknown_user_hash)
        ok = await self.passwords.run(verify_password, password, stored)
        return await self.agent(row["agent_id"]) if row and ok else None

    async def set_status(self, agent_id: int, status: str) -> list[tuple[str, int]]:
        """online/away as the agent chooses; going online counts as a sign of life and
        drains the queue. Returns the assignments made."""
        if status not in ("online", "away"):
            raise DeskError("status must be online or away")
        presence = self.policy.presence()

        def update(c):
            if status == "online":
                c.execute("UPDATE agents SET status = 'online', last_seen_at = ?"
                          " WHERE agent_id = ?", (timestamp(presence.now), agent_id))
                return routing.drain(c, presence)
            c.execute("UPDATE agents SET status = 'away' WHERE agent_id = ?", (agent_id,))
            return []

        return await self.db.write(update)

    async def seen(self, agent_ids: Iterable[int]) -> list[dict]:
        """The consoles of these agents are alive now (a heartbeat, an open socket):
        their last seen time is now. Returns the agents, with their presence."""
        ids = sorted(set(agent_ids))
        if not ids:
            return []
        presence = self.policy.presence()

        def touch(c):
            c.executemany("UPDATE agents SET last_seen_at = ? WHERE agent_id = ?",
                          [(timestamp(presence.now), i) for i in ids])
            return [agent_in(c, i, presence) for i in ids]

        return [a for a in await self.db.write(touch) if a]

    async def sweep_absent(self) -> list[dict]:
        """Agents who chose online but whose console has not been seen within the grace
        period become away (they get nothing new; what they own stays theirs). Returns
        them."""
        presence = self.policy.presence()

        def sweep(c):
            ids = [r[0] for r in c.execute(
                "SELECT agent_id FROM agents a WHERE a.status = 'online' AND NOT "
                + routing.PRESENT_SQL, (presence.seen_since,))]
            for i in ids:
                c.execute("UPDATE agents SET status = 'away' WHERE agent_id = ?", (i,))
            return [agent_in(c, i, presence) for i in ids]

        return await self.db.write(sweep)

    async def set_caps(self, agent_id: int, cap: Optional[int] = None,
                       daily_cap: Optional[int] = None) -> list[tuple[str, int]]:
        """A supervisor sets an agent's concurrent and/or daily cap; a raised cap frees
        places, so the queue drains. Returns the assignments made."""
        for name, value in (("cap", cap), ("daily_cap", daily_cap)):
            if value is not None and not 0 <= value <= 1000:
                raise DeskError(f"{name!r} must be between 0 and 1000")
        presence = self.policy.presence()

        def update(c):
            if c.execute("SELECT 1 FROM agents WHERE agent_id = ? AND enabled = 1",
                         (agent_id,)).fetchone() is None:
                raise NotFound("no such agent")
            if cap is not None:
                c.execute("UPDATE agents SET cap = ? WHERE agent_id = ?", (cap, agent_id))
            if daily_cap is not None:
                c.execute("UPDATE agents SET daily_cap = ? WHERE agent_id = ?",
                          (daily_cap, agent_id))
            return routing.drain(c, presence)

        return await self.db.write(update)

    # -- sessions --------------------------------------------------------------------------
    async def create_session(self, agent_id: int, hours: int = 12) -> tuple[str, str]:
        """(cookie value, CSRF token) for a new log-in."""
        sid, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        now = self.policy.clock()

        def insert(c):
            c.execute("DELETE FROM sessions WHERE expires_at < ?", (timestamp(now),))
            c.execute("INSERT INTO sessions (session_hash, agent_id, csrf_token, created_at,"
                      " expires_at) VALUES (?, ?, ?, ?, ?)",
                      (token_hash(sid), agent_id, csrf, timestamp(now),
                       timestamp(now + timedelta(hours=hours))))

        await self.db.write(insert)
        return sid, csrf

    async def session(self, sid: str) -> Optional[tuple[dict, str]]:
        """(agent, CSRF token) for a session cookie, or None."""
        if not sid:
            return None
        presence = self.policy.presence()
        now = presence.now

        def find(c):
            row = c.execute("SELECT agent_id, csrf_token, expires_at FROM sessions"
                            " WHERE session_hash = ?", (token_hash(sid),)).fetchone()
            if row is None or datetime.fromisoformat(row["expires_at"]) < now:
                return None
            agent = agent_in(c, row["agent_id"], presence)
            return (agent, row["csrf_token"]) if agent else None

        return await self.db.read(find)

    async def delete_session(self, sid: str) -> None:
        def delete(c):
            c.execute("DELETE FROM sessions WHERE session_hash = ?", (token_hash(sid),))

        await self.db.write(delete)

    # -- canned replies --------------------------------------------------------------------
    async def canned(self, locale: Optional[str], query: str = "") -> list[dict]:
        """Canned replies in a language (both when None), those whose title or text
        contains `query` (any case; the {{variables}} are not words) when one is given;
        each with its locale."""
        needle = query.strip().casefold()
        rows = await self.db.read(lambda c: [dict(r) for r in c.execute(
            "SELECT id, locale, title, text FROM canned_replies ORDER BY locale = ? DESC,"
            " id", (locale or "",))])
        return [r for r in rows if (locale is None or r["locale"] == locale)
                and (not needle or needle in r["title"].casefold()
                     or needle in _VARIABLE.sub(" ", r["text"]).casefold())]
