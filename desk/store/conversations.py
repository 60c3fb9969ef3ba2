"""Conversations and their messages: creation and the shopper's token, messages (stored
before anything is answered or pushed), history, handoff, resolve and reopen,
supervisor reassignment, the out-of-hours contact form, the queue and its estimates, the
summaries the console lists, and the ownership log. Who gets a conversation is decided by
desk/routing.py's rules, inside the same write transaction."""

from __future__ import annotations

import hmac
import secrets
import uuid
from datetime import datetime, timedelta
from typing import Optional

from .. import routing
from ..errors import Conflict, DeskError, Forbidden, NotFound
from . import suggestions as suggestion_rows
from .db import Database
from .records import (DeskPolicy, conversation_dict, conversation_row, from_json,
                      message_dict, timestamp, to_json, token_hash)

Assignments = list[tuple[str, int]]        # [(conversation_id, agent_id)] made by a write


def _log_handoff(c, conversation_id: str, reason: str, now: datetime,
                 requested_discount_pct: Optional[float] = None) -> None:
    c.execute("INSERT INTO handoffs (conversation_id, reason, requested_discount_pct, day,"
              " queued_at) VALUES (?, ?, ?, ?, ?)",
              (conversation_id, reason, requested_discount_pct, routing.today_key(now),
               timestamp(now)))


def _conversation(c, conversation_id: str) -> Optional[dict]:
    row = c.execute("SELECT * FROM conversations WHERE conversation_id = ?",
                    (conversation_id,)).fetchone()
    return conversation_dict(row) if row else None


def _insert_message(c, conversation_id: str, sender: str, now: str, *, text: str = "",
                    buttons: Optional[str] = None, image: Optional[str] = None,
                    custom: Optional[str] = None, client_id: Optional[str] = None,
                    reply_to: Optional[int] = None, agent: Optional[dict] = None) -> dict:
    """Insert one message (JSON columns already encoded); returns it as the API shows it."""
    row = c.execute(
        "INSERT INTO messages (conversation_id, sender, text, buttons, image, custom,"
        " client_id, reply_to, agent_id, agent_name, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *",
        (conversation_id, sender, text, buttons, image, custom, client_id, reply_to,
         agent["agent_id"] if agent else None, agent["display_name"] if agent else None,
         now)).fetchone()
    return message_dict(row)


def summary_in(c, conversation_id: str) -> Optional[dict]:
    """A conversation as the console lists it, inside a transaction."""
    row = c.execute(
        "SELECT c.*, a.display_name AS agent_name FROM conversations c LEFT JOIN agents a"
        " ON a.agent_id = c.agent_id WHERE c.conversation_id = ?",
        (conversation_id,)).fetchone()
    if row is None:
        return None
    last = c.execute("SELECT * FROM messages WHERE conversation_id = ? ORDER BY id DESC"
                     " LIMIT 1", (conversation_id,)).fetchone()
    unread = c.execute(
        "SELECT COUNT(*) FROM messages WHERE conversation_id = ? AND sender = 'shopper'"
        " AND id > COALESCE((SELECT MAX(id) FROM messages WHERE conversation_id = ? AND"
        " sender = 'agent'), 0)", (conversation_id, conversation_id)).fetchone()[0]
    return {"conversation_id": row["conversation_id"], "state": row["state"],
            "locale": row["locale"], "agent_id": row["agent_id"],
            "agent_name": row["agent_name"], "handoff_reason": row["handoff_reason"],
            "requested_discount_pct": row["requested_discount_pct"],
            "last_message": message_dict(last) if last else None, "unread": unread,
            "created_at": row["created_at"], "queued_at": row["queued_at"],
            "page": from_json(row["page"]) or {}, "customer_id": row["customer_id"],
            "contact": row["contact"]}


class Conversations:
    """Conversations, messages, handoff, the queue (see the module docstring)."""

    def __init__(self, db: Database, policy: DeskPolicy):
        self.db = db
        self.policy = policy

    def _now(self) -> datetime:
        return self.policy.clock()

    # -- a conversation and its shopper ----------------------------------------------------
    async def create(self, locale: str, page: Optional[dict] = None,
                     customer_id: Optional[str] = None) -> tuple[dict, str]:
        """A new conversation with the bot; returns (conversation, shopper token)."""
        cid, token = uuid.uuid4().hex, secrets.token_urlsafe(32)
        now = timestamp(self._now())

        def insert(c):
            c.execute("INSERT INTO conversations (conversation_id, token_hash, locale, state,"
                      " customer_id, page, created_at, updated_at, seq) VALUES"
                      " (?, ?, ?, 'bot', ?, ?, ?, ?,"
                      " (SELECT COALESCE(MAX(seq), 0) + 1 FROM conversations))",
                      (cid, token_hash(token), locale, customer_id, to_json(page or {}),
                       now, now))
            return _conversation(c, cid)

        return await self.db.write(insert), token

    async def get(self, conversation_id: str) -> Optional[dict]:
        return await self.db.read(_conversation, conversation_id)

    async def authorize(self, conversation_id: str, token: str) -> dict:
        """The conversation if `token` is its shopper token; NotFound / Forbidden else."""
        def check(c):
            row = c.execute("SELECT * FROM conversations WHERE conversation_id = ?",
                            (conversation_id,)).fetchone()
            if row is None:
                raise NotFound("no such conversation")
            if not token or not hmac.compare_digest(row["token_hash"], token_hash(token)):
                raise Forbidden("this token does not open this conversation")
            return conversation_dict(row)

        return await self.db.read(check)

    # -- messages --------------------------------------------------------------------------
    async def add_shopper_message(self, conversation_id: str, text: str,
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
        now = self._now()

        def store(c):
            if client_id:
                row = c.execute("SELECT * FROM messages WHERE conversation_id = ? AND"
                                " client_id = ?", (conversation_id, client_id)).fetchone()
                if row is not None:
                    return {"message": message_dict(row), "duplicate": True,
                            "conversation": None, "events": []}
            conv = conversation_row(c, conversation_id)
            events = self._reopen_or_restart(c, conv, now) \
                if conv["state"] == "resolved" else []
            sets, params = ["updated_at = ?"], [timestamp(now)]
            page = metadata.get("page")
            if isinstance(page, dict):
                sets.append("page = ?")
                params.append(to_json(page))
            if isinstance(metadata.get("cart"), list):
                sets.append("cart = ?")
                params.append(to_json(metadata["cart"]))
            if metadata.get("locale") in ("zh", "en"):
                sets.append("locale = ?")
                params.append(metadata["locale"])
            if metadata.get("customer_id") and not conv["customer_id"]:
                sets.append("customer_id = ?")
                params.append(str(metadata["customer_id"])[:200])
            c.execute(f"UPDATE conversations SET {', '.join(sets)} WHERE conversation_id = ?",
                      (*params, conversation_id))
            msg = _insert_message(c, conversation_id, "shopper", timestamp(now), text=text,
                                  client_id=client_id)
            return {"message": msg, "duplicate": False,
                    "conversation": _conversation(c, conversation_id), "events": events}

        return await self.db.write(store)

    def _reopen_or_restart(self, c, conv, now: datetime) -> list[dict]:
        cid, owner = conv["conversation_id"], conv["agent_id"]
        resolved = datetime.fromisoformat(conv["resolved_at"]) if conv["resolved_at"] \
            else now
        if owner is not None and \
                now - resolved <= timedelta(minutes=self.policy.reopen_minutes):
            agent = c.execute("SELECT cap, status FROM agents WHERE agent_id = ?",
                              (owner,)).fetchone()
            active = c.execute("SELECT COUNT(*) FROM conversations WHERE agent_id = ? AND"
                               " state = 'assigned'", (owner,)).fetchone()[0]
            if agent is not None and agent["status"] == "online" and active < agent["cap"]:
                c.execute("UPDATE conversations SET state = 'assigned', resolved_at = NULL,"
                          " assigned_at = ?, updated_at = ? WHERE conversation_id = ?",
                          (timestamp(now), timestamp(now), cid))
                routing.log(c, cid, owner, "reopen", now, reason="shopper wrote again")
                return [{"type": "reopened", "agent_id": owner}]
            # the owner is away or at the cap: queued, offered to them first (to another
            # agent only when they cannot take it), so no cap is ever exceeded
            c.execute("UPDATE conversations SET state = 'queued', agent_id = NULL,"
                      " preferred_agent_id = ?, resolved_at = NULL, queued_at = ?,"
                      " updated_at = ? WHERE conversation_id = ?",
                      (owner, timestamp(now), timestamp(now), cid))
            done = routing.drain(c, now)
            return [{"type": "queued"}] + [{"type": "assigned", "conversation_id": a,
                                             "agent_id": b} for a, b in done]
        c.execute("UPDATE conversations SET state = 'bot', agent_id = NULL,"
                  " handoff_reason = NULL, requested_discount_pct = NULL, resolved_at = NULL,"
                  " queued_at = NULL, assigned_at = NULL, updated_at = ?"
                  " WHERE conversation_id = ?", (timestamp(now), cid))
        return [{"type": "restarted"}]

    async def add_messages(self, conversation_id: str, sender: str, replies: list[dict],
                           reply_to: Optional[int] = None,
                           agent: Optional[dict] = None) -> list[dict]:
        """Store bot/system/agent messages in one transaction; returns them stored."""
        if not replies:
            return []
        now = timestamp(self._now())

        def insert(c):
            stored = [_insert_message(
                c, conversation_id, sender, now, text=str(r.get("text") or ""),
                buttons=to_json(r.get("buttons") or None), image=r.get("image"),
                custom=to_json(r.get("custom")), reply_to=reply_to, agent=agent)
                for r in replies]
            c.execute("UPDATE conversations SET updated_at = ? WHERE conversation_id = ?",
                      (now, conversation_id))
            return stored

        return await self.db.write(insert)

    async def agent_message(self, conversation_id: str, agent: dict, text: str,
                            suggestion_id: Optional[int] = None) -> dict:
        """The owner writes to the shopper (committed on return); with a suggestion, its
        outcome (accepted when sent as drafted, else edited) and final text are recorded in
        the same transaction. Returns {"message", "suggestion"}."""
        now = timestamp(self._now())

        def send(c):
            conv = conversation_row(c, conversation_id, "state, agent_id")
            if conv["state"] != "assigned" or conv["agent_id"] != agent["agent_id"]:
                raise Forbidden("only the owner of an assigned conversation writes in it")
            draft = None
            if suggestion_id is not None:
                draft = suggestion_rows.undecided_in(c, suggestion_id, conversation_id)
            as_drafted = draft is not None and text == draft["text"]
            msg = _insert_message(
                c, conversation_id, "agent", now, text=text,
                buttons=draft["buttons"] if as_drafted else None,
                custom=draft["custom"] if draft is not None else None, agent=agent)
            sugg = None
            if draft is not None:
                sugg = suggestion_rows.record_sent(c, suggestion_id, text, as_drafted,
                                                   msg["id"], agent, now)
            c.execute("UPDATE conversations SET updated_at = ? WHERE conversation_id = ?",
                      (now, conversation_id))
            return {"message": msg, "suggestion": sugg}

        return await self.db.write(send)

    async def replies_to(self, message_id: int) -> list[dict]:
        """The stored replies the shopper saw for one of their messages."""
        return await self.db.read(lambda c: [message_dict(r) for r in c.execute(
            "SELECT * FROM messages WHERE reply_to = ? AND sender IN ('bot', 'system')"
            " ORDER BY id", (message_id,))])

    async def unanswered(self) -> list[dict]:
        """Shopper messages a desk stored but never answered: in a conversation with the
        bot, with no bot, system or agent message after them; oldest first (what
        DeskService.recover answers on start)."""
        return await self.db.read(lambda c: [message_dict(r) for r in c.execute(
            "SELECT m.* FROM conversations c JOIN messages m"
            " ON m.conversation_id = c.conversation_id AND m.sender = 'shopper'"
            " AND m.id > COALESCE((SELECT MAX(r.id) FROM messages r"
            " WHERE r.conversation_id = c.conversation_id AND r.sender != 'shopper'), 0)"
            " WHERE c.state = 'bot' ORDER BY m.id")])

    async def history(self, conversation_id: str, after: int = 0,
                      limit: int = 1000) -> list[dict]:
        return await self.db.read(lambda c: [message_dict(r) for r in c.execute(
            "SELECT * FROM messages WHERE conversation_id = ? AND id > ? ORDER BY id LIMIT ?",
            (conversation_id, after, limit))])

    # -- handoff, resolve, reassign --------------------------------------------------------
    async def handoff(self, conversation_id: str, reason: str, *,
                      requested_discount_pct: Optional[float] = None) -> dict:
        """Hand a bot conversation to the humans: queued, then assigned when someone can
        take it. Returns {"changed": bool, "assigned": [(conversation_id, agent_id)]}."""
        now = self._now()

        def hand_over(c):
            conv = conversation_row(c, conversation_id, "state, customer_id")
            if conv["state"] != "bot":
                return {"changed": False, "assigned": []}
            # a returning shopper: the agent of their latest conversation (or of an
            # earlier cycle of this one)
            prev = c.execute(
                "SELECT s.agent_id FROM assignments s WHERE s.kind IN ('assign',"
                " 'reassign') AND (s.conversation_id = ? OR s.conversation_id IN"
                " (SELECT conversation_id FROM conversations WHERE customer_id = ?))"
                " ORDER BY s.id DESC LIMIT 1",
                (conversation_id, conv["customer_id"])).fetchone()
            c.execute("UPDATE conversations SET state = 'queued', queued_at = ?,"
                      " handoff_reason = ?, requested_discount_pct = ?,"
                      " preferred_agent_id = ?, updated_at = ? WHERE conversation_id = ?",
                      (timestamp(now), reason, requested_discount_pct,
                       prev[0] if prev else None, timestamp(now), conversation_id))
            _log_handoff(c, conversation_id, reason, now, requested_discount_pct)
            return {"changed": True, "assigned": routing.drain(c, now)}

        return await self.db.write(hand_over)

    async def drain(self) -> Assignments:
        """Assign what the queue can give to the agents online now."""
        now = self._now()
        return await self.db.write(lambda c: routing.drain(c, now))

    async def resolve(self, conversation_id: str, agent: dict) -> Assignments:
        """The owner (or a supervisor) resolves; frees a place, so the queue drains."""
        now = self._now()

        def close(c):
            conv = conversation_row(c, conversation_id, "state, agent_id")
            if conv["state"] != "assigned":
                raise Conflict(f"conversation is {conv['state']}, not assigned")
            if conv["agent_id"] != agent["agent_id"] and agent["role"] != "supervisor":
                raise Forbidden("only the owner resolves a conversation")
            c.execute("UPDATE conversations SET state = 'resolved', resolved_at = ?,"
                      " updated_at = ? WHERE conversation_id = ?",
                      (timestamp(now), timestamp(now), conversation_id))
            routing.log(c, conversation_id, conv["agent_id"], "resolve", now,
                        by_agent_id=agent["agent_id"])
            return routing.drain(c, now)

        return await self.db.write(close)

    async def reassign(self, conversation_id: str, to_agent_id: int, reason: str,
                       by: dict) -> None:
        """A supervisor gives an assigned or queued conversation to another agent (the only
        way ownership moves), recorded with the reason. The target's caps hold."""
        if by.get("role") != "supervisor":
            raise Forbidden("only a supervisor can reassign")
        if not reason or not str(reason).strip():
            raise DeskError("a reason is required")
        now = self._now()

        def move(c):
            conv = conversation_row(c, conversation_id, "state, agent_id")
            if conv["state"] not in ("assigned", "queued"):
                raise Conflict(f"conversation is {conv['state']}")
            target = c.execute("SELECT agent_id, cap, daily_cap FROM agents"
                               " WHERE agent_id = ? AND enabled = 1",
                               (to_agent_id,)).fetchone()
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
                      (to_agent_id, timestamp(now), timestamp(now), conversation_id))
            routing.log(c, conversation_id, to_agent_id, "reassign", now, reason=reason,
                        from_agent_id=conv["agent_id"], by_agent_id=by["agent_id"])

        await self.db.write(move)

    async def leave_contact(self, conversation_id: str, contact: str, text: str,
                            locale: str) -> dict:
        """Out of hours: a contact and a question become a queued conversation.
        Returns {"message": the stored shopper message, "assigned"}."""
        now = self._now()

        def leave(c):
            conv = conversation_row(c, conversation_id, "state")
            c.execute("INSERT INTO contact_messages (conversation_id, contact, text, locale,"
                      " created_at) VALUES (?, ?, ?, ?, ?)",
                      (conversation_id, contact, text, locale, timestamp(now)))
            msg = _insert_message(c, conversation_id, "shopper", timestamp(now), text=text,
                                  custom=to_json({"type": "contact", "contact": contact}))
            c.execute("UPDATE conversations SET contact = ?, updated_at = ?"
                      " WHERE conversation_id = ?", (contact, timestamp(now), conversation_id))
            if conv["state"] in ("bot", "resolved"):
                c.execute("UPDATE conversations SET state = 'queued', agent_id = NULL,"
                          " queued_at = ?, resolved_at = NULL, handoff_reason = 'contact',"
                          " requested_discount_pct = NULL WHERE conversation_id = ?",
                          (timestamp(now), conversation_id))
                _log_handoff(c, conversation_id, "contact", now)
            return {"message": msg, "assigned": routing.drain(c, now)}

        return await self.db.write(leave)

    # -- the queue and the lists -----------------------------------------------------------
    async def queue(self) -> list[dict]:
        """Queued conversations' summaries, first in first out."""
        return await self.db.read(lambda c: [
            summary_in(c, r["conversation_id"]) for r in routing.queued(c)])

    async def queue_estimates(self) -> dict[str, dict]:
        """{conversation_id: {"position", "estimated_wait_s"}} of every queued one."""
        now, p = self._now(), self.policy
        return await self.db.read(routing.queue_estimates, now, p.default_handle_s,
                                  p.agent_cap)

    async def mine(self, agent_id: int) -> list[dict]:
        """The summaries of what an agent owns now, oldest assignment first."""
        return await self._summaries(
            "SELECT conversation_id FROM conversations WHERE agent_id = ? AND"
            " state = 'assigned' ORDER BY assigned_at, seq", (agent_id,))

    async def assigned(self) -> list[dict]:
        """Every conversation an agent owns now (what a supervisor oversees)."""
        return await self._summaries(
            "SELECT conversation_id FROM conversations WHERE state = 'assigned'"
            " ORDER BY assigned_at, seq", ())

    async def _summaries(self, sql: str, params: tuple) -> list[dict]:
        return await self.db.read(lambda c: [
            summary_in(c, r[0]) for r in c.execute(sql, params).fetchall()])

    async def summary(self, conversation_id: str) -> Optional[dict]:
        return await self.db.read(summary_in, conversation_id)

    async def ownership_log(self, conversation_id: Optional[str] = None) -> list[dict]:
        """Assign, reopen, reassign and resolve lines, in commit order."""
        if conversation_id:
            sql, params = ("SELECT * FROM assignments WHERE conversation_id = ? ORDER BY id",
                           (conversation_id,))
        else:
            sql, params = "SELECT * FROM assignments ORDER BY id", ()
        return await self.db.read(lambda c: [dict(r) for r in c.execute(sql, params)])

    async def status_counts(self, locale: Optional[str] = None) -> dict:
        """Agents online, queue length and the wait a shopper joining now can expect
        (for one language when given)."""
        now, p = self._now(), self.policy

        def count(c):
            return (routing.online_agents(c, routing.today_key(now)),
                    [r["locale"] for r in routing.queued(c)],
                    routing.average_handling_s(c, p.default_handle_s))

        loads, queued, avg = await self.db.read(count)
        loads = [a for a in loads if not locale or locale in a.languages]
        n_queue = sum(1 for lang in queued if not locale or lang == locale)
        if any(a.can_take(locale or lang) for a in loads for lang in ("zh", "en")) \
                and n_queue == 0:
            wait = 0
        else:
            slots = sum(a.cap for a in loads) or p.agent_cap
            wait = int(-(-(n_queue + 1) * avg // slots))
        return {"agents_online": len(loads), "queue_length": n_queue,
                "estimated_wait_s": wait}
