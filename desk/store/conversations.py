"""Conversations and their messages: creation and the shopper's token, messages (stored
before anything is answered or pushed), history, handoff, resolve and reopen,
supervisor reassignment, the out-of-hours contact form, the queue and its estimates, the
summaries the console lists (with what the shopper is waiting for), the agents' private
notes and labels, the read mark, the shopper's rating of a resolved cycle, and the
ownership log. Who gets a conversation is decided by desk/routing.py's rules, inside the
same write transaction."""

from __future__ import annotations

import hmac
import secrets
import uuid
from datetime import datetime, timedelta
from typing import Iterable, Optional

from .. import routing
from ..errors import Conflict, DeskError, Forbidden, NotFound
from . import suggestions as suggestion_rows
from .accounts import agent_in
from .db import Database
from .records import (DeskPolicy, conversation_dict, conversation_row, from_json,
                      is_answer, message_dict, timestamp, to_json, token_hash)

Assignments = list[tuple[str, int]]        # [(conversation_id, agent_id)] made by a write

MAX_LABELS = 10
MAX_LABEL_LENGTH = 30


def _log_handoff(c, conversation_id: str, reason: str, now: datetime,
                 requested_discount_pct: Optional[float] = None,
                 message_id: Optional[int] = None) -> None:
    c.execute("INSERT INTO handoffs (conversation_id, reason, requested_discount_pct, day,"
              " queued_at, message_id) VALUES (?, ?, ?, ?, ?, ?)",
              (conversation_id, reason, requested_discount_pct, routing.today_key(now),
               timestamp(now), message_id))


def _conversation(c, conversation_id: str) -> Optional[dict]:
    row = c.execute("SELECT * FROM conversations WHERE conversation_id = ?",
                    (conversation_id,)).fetchone()
    return conversation_dict(row) if row else None


def _insert_message(c, conversation_id: str, sender: str, now: str, *, text: str = "",
                    buttons: Optional[str] = None, image: Optional[str] = None,
                    custom: Optional[str] = None, client_id: Optional[str] = None,
                    reply_to: Optional[int] = None, agent: Optional[dict] = None,
                    state: Optional[str] = None, owner_id: Optional[int] = None) -> dict:
    """Insert one message (JSON columns already encoded); returns it as the API shows it."""
    row = c.execute(
        "INSERT INTO messages (conversation_id, sender, text, buttons, image, custom,"
        " client_id, reply_to, agent_id, agent_name, created_at, state, owner_id)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *",
        (conversation_id, sender, text, buttons, image, custom, client_id, reply_to,
         agent["agent_id"] if agent else None, agent["display_name"] if agent else None,
         now, state, owner_id)).fetchone()
    return message_dict(row)


def unanswered_in(c, conversation_id: str) -> list:
    """The shopper messages still waiting for an answer, oldest first: those after the
    latest agent message that no bot answer replies to (records.is_answer)."""
    last_agent = c.execute("SELECT MAX(id) FROM messages WHERE conversation_id = ? AND"
                           " sender = 'agent'", (conversation_id,)).fetchone()[0] or 0
    rows = c.execute("SELECT * FROM messages WHERE conversation_id = ? AND id > ? AND"
                     " sender IN ('shopper', 'bot') ORDER BY id",
                     (conversation_id, last_agent)).fetchall()
    answered = {r["reply_to"] for r in rows
                if r["reply_to"] and is_answer(r["sender"], from_json(r["custom"]))}
    return [r for r in rows if r["sender"] == "shopper" and r["id"] not in answered]


def _city_in(c, conversation_id: str) -> Optional[str]:
    """The latest city the conversation's facts name (a shipping answer or draft)."""
    for table in ("messages", "suggestions"):
        for (custom,) in c.execute(f"SELECT custom FROM {table} WHERE conversation_id = ?"
                                   " AND custom LIKE '%\"city\"%' ORDER BY id DESC LIMIT 5",
                                   (conversation_id,)):
            city = (from_json(custom) or {}).get("city")
            if city:
                return str(city)
    return None


def summary_in(c, conversation_id: str, presence: routing.Presence) -> Optional[dict]:
    """A conversation as the console lists it, inside a transaction: who owns it (and
    whether they are present), how long the shopper has waited for an answer (since the
    oldest unanswered message; null when answered), the shopper's last message as the
    preview, unread shopper messages, and what tells rows apart (shopper label, product
    page, city, language, labels)."""
    row = c.execute(
        "SELECT c.*, a.display_name AS agent_name, " + routing.PRESENT_SQL
        + " AS agent_present FROM conversations c LEFT JOIN agents a"
        " ON a.agent_id = c.agent_id WHERE c.conversation_id = ?",
        (presence.seen_since, conversation_id)).fetchone()
    if row is None:
        return None
    last = c.execute("SELECT * FROM messages WHERE conversation_id = ? ORDER BY id DESC"
                     " LIMIT 1", (conversation_id,)).fetchone()
    last_shopper = c.execute("SELECT * FROM messages WHERE conversation_id = ? AND"
                             " sender = 'shopper' ORDER BY id DESC LIMIT 1",
                             (conversation_id,)).fetchone()
    last_agent = c.execute("SELECT MAX(id) FROM messages WHERE conversation_id = ? AND"
                           " sender = 'agent'", (conversation_id,)).fetchone()[0]
    read_mark = max(last_agent or 0, row["read_upto"] or 0)
    unread = c.execute("SELECT COUNT(*) FROM messages WHERE conversation_id = ? AND"
                       " sender = 'shopper' AND id > ?",
                       (conversation_id, read_mark)).fetchone()[0]
    waiting = unanswered_in(c, conversation_id)
    since = waiting[0]["created_at"] if waiting else None
    page = from_json(row["page"]) or {}
    labels = [r[0] for r in c.execute("SELECT label FROM conversation_labels WHERE"
                                      " conversation_id = ? ORDER BY label",
                                      (conversation_id,))]
    return {"conversation_id": row["conversation_id"], "state": row["state"],
            "locale": row["locale"], "agent_id": row["agent_id"],
            "agent_name": row["agent_name"],
            "agent_status": None if row["agent_id"] is None else
            ("online" if row["agent_present"] else "away"),
            "handoff_reason": row["handoff_reason"],
            "requested_discount_pct": row["requested_discount_pct"],
            "last_message": message_dict(last) if last else None,
            "last_shopper_message": message_dict(last_shopper) if last_shopper else None,
            "unread": unread, "unanswered": len(waiting), "waiting_since": since,
            "waiting_s": None if since is None else max(0, int(
                (presence.now - datetime.fromisoformat(since)).total_seconds())),
            "created_at": row["created_at"], "queued_at": row["queued_at"],
            "updated_at": row["updated_at"],
            "page": page, "product_id": page.get("product_id") or None,
            "city": _city_in(c, conversation_id),
            "customer_id": row["customer_id"], "contact": row["contact"],
            "shopper_label": row["customer_id"] or row["contact"]
            or "#" + row["conversation_id"][:6].upper(),
            "labels": labels}


def by_waiting(summaries: Iterable[dict]) -> list[dict]:
    """Longest waiting first; the answered ones after them, latest activity first."""
    summaries = [s for s in summaries if s is not None]
    waiting = sorted((s for s in summaries if s["waiting_since"]),
                     key=lambda s: (s["waiting_since"], s["conversation_id"]))
    rest = sorted((s for s in summaries if not s["waiting_since"]),
                  key=lambda s: s["updated_at"], reverse=True)
    return waiting + rest


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
        queued for that owner when they are away or at their cap) and starts over with the
        bot after it (event "restarted"). The message keeps the state and owner the
        conversation has once it is stored (the figures of desk/metrics.py use them).
        """
        metadata = metadata or {}
        presence = self.policy.presence()
        now = presence.now

        def store(c):
            if client_id:
                row = c.execute("SELECT * FROM messages WHERE conversation_id = ? AND"
                                " client_id = ?", (conversation_id, client_id)).fetchone()
                if row is not None:
                    return {"message": message_dict(row), "duplicate": True,
                            "conversation": None, "events": []}
            conv = conversation_row(c, conversation_id)
            events = self._reopen_or_restart(c, conv, presence) \
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
            now_conv = _conversation(c, conversation_id)
            msg = _insert_message(c, conversation_id, "shopper", timestamp(now), text=text,
                                  client_id=client_id, state=now_conv["state"],
                                  owner_id=now_conv["agent_id"]
                                  if now_conv["state"] == "assigned" else None)
            return {"message": msg, "duplicate": False, "conversation": now_conv,
                    "events": events}

        return await self.db.write(store)

    def _reopen_or_restart(self, c, conv, presence: routing.Presence) -> list[dict]:
        cid, owner, now = conv["conversation_id"], conv["agent_id"], presence.now
        resolved = datetime.fromisoformat(conv["resolved_at"]) if conv["resolved_at"] \
            else now
        if owner is not None and \
                now - resolved <= timedelta(minutes=self.policy.reopen_minutes):
            agent = agent_in(c, owner, presence)
            # the same cycle goes on: the owner's presence and free place count, not the
            # daily cap (a reopened conversation is not a new one)
            if agent is not None and agent["status"] == "online" and \
                    agent["active"] < agent["cap"]:
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
            done = routing.drain(c, presence)
            return [{"type": "queued"}] + [{"type": "assigned", "conversation_id": a,
                                             "agent_id": b} for a, b in done]
        c.execute("UPDATE conversations SET state = 'bot', agent_id = NULL,"
                  " handoff_reason = NULL, requested_discount_pct = NULL, resolved_at = NULL,"
                  " queued_at = NULL, assigned_at = NULL, updated_at = ?"
                  " WHERE conversation_id = ?", (timestamp(now), cid))
        return [{"type": "restarted"}]

    async def add_messages(self, conversation_id: str, sender: str, replies: list[dict],
                           reply_to: Optional[int] = None,
                           agent: Optional[dict] = None, *,
                           only_in_state: Optional[str] = None) -> list[dict]:
        """Store bot/system/agent messages in one transaction; returns them stored. With
        `only_in_state`, nothing is stored (and [] returned) unless the conversation is in
        that state when the transaction runs (the bot answers a queued shopper only while
        nobody owns the conversation)."""
        if not replies:
            return []
        now = timestamp(self._now())

        def insert(c):
            if only_in_state is not None and conversation_row(
                    c, conversation_id, "state")["state"] != only_in_state:
                return []
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
                            suggestion_id: Optional[int] = None,
                            redrafted_custom: Optional[dict] = None) -> dict:
        """The owner writes to the shopper (committed on return); with a suggestion, its
        outcome and final text are recorded in the same transaction: accepted when sent as
        drafted (or as the desk re-rendered it with the catalog's new figures,
        `redrafted_custom` then being its facts), else edited. Returns {"message",
        "suggestion"}."""
        now = timestamp(self._now())

        def send(c):
            conv = conversation_row(c, conversation_id, "state, agent_id")
            if conv["state"] != "assigned" or conv["agent_id"] != agent["agent_id"]:
                raise Forbidden("only the owner of an assigned conversation writes in it")
            draft = None
            if suggestion_id is not None:
                draft = suggestion_rows.undecided_in(c, suggestion_id, conversation_id)
            as_drafted = draft is not None and (
                redrafted_custom is not None or text == draft["text"])
            custom = to_json(redrafted_custom) if redrafted_custom is not None \
                else draft["custom"] if draft is not None else None
            msg = _insert_message(
                c, conversation_id, "agent", now, text=text,
                buttons=draft["buttons"] if as_drafted else None, custom=custom,
                agent=agent)
            sugg = None
            if draft is not None:
                sugg = suggestion_rows.record_sent(c, suggestion_id, text, as_drafted,
                                                   msg["id"], agent, now)
            c.execute("UPDATE conversations SET updated_at = ?, read_upto = ?"
                      " WHERE conversation_id = ?", (now, msg["id"], conversation_id))
            return {"message": msg, "suggestion": sugg}

        return await self.db.write(send)

    async def replies_to(self, message_id: int) -> list[dict]:
        """The stored replies the shopper saw for one of their messages."""
        return await self.db.read(lambda c: [message_dict(r) for r in c.execute(
            "SELECT * FROM messages WHERE reply_to = ? AND sender IN ('bot', 'system')"
            " ORDER BY id", (message_id,))])

    async def left_unanswered(self, *, older_than: Optional[datetime] = None,
                              newer_than: Optional[datetime] = None,
                              conversation_id: Optional[str] = None) -> list[dict]:
        """Shopper messages a desk stored but whose turn never ran to its end (what
        DeskService.take_up takes up on start and on the leader's sweep), oldest first,
        in conversations with the bot, queued or owned: no bot reply or desk notice
        replies to them (the "one moment" notice aside: it comes before the answer), no
        draft was stored for them, no agent wrote after them, and the conversation was
        not resolved since (every turn leaves one of these; one that left none, e.g. an
        owned conversation's reply that was only a handoff, is asked again). Only those
        stored before `older_than`, since `newer_than` and in `conversation_id`, when
        given."""
        where, params = [], [to_json({"type": "waiting"})]
        for column_test, value in (("m.created_at < ?", older_than),
                                   ("m.created_at >= ?", newer_than)):
            if value is not None:
                where.append(column_test)
                params.append(timestamp(value))
        if conversation_id is not None:
            where.append("m.conversation_id = ?")
            params.append(conversation_id)
        return await self.db.read(lambda c: [message_dict(r) for r in c.execute(
            "SELECT m.* FROM messages m JOIN conversations c"
            " ON c.conversation_id = m.conversation_id"
            " WHERE m.sender = 'shopper' AND c.state IN ('bot', 'queued', 'assigned')"
            " AND NOT EXISTS (SELECT 1 FROM messages r WHERE r.reply_to = m.id"
            " AND r.sender IN ('bot', 'system') AND COALESCE(r.custom, '') != ?)"
            " AND NOT EXISTS (SELECT 1 FROM suggestions s WHERE s.message_id = m.id)"
            " AND NOT EXISTS (SELECT 1 FROM messages r WHERE r.conversation_id ="
            " m.conversation_id AND r.sender = 'agent' AND r.id > m.id)"
            " AND NOT EXISTS (SELECT 1 FROM assignments a WHERE a.conversation_id ="
            " m.conversation_id AND a.kind = 'resolve' AND a.created_at >= m.created_at)"
            + "".join(f" AND {w}" for w in where) + " ORDER BY m.id", params)])

    async def history(self, conversation_id: str, after: int = 0,
                      limit: int = 1000) -> list[dict]:
        return await self.db.read(lambda c: [message_dict(r) for r in c.execute(
            "SELECT * FROM messages WHERE conversation_id = ? AND id > ? ORDER BY id LIMIT ?",
            (conversation_id, after, limit))])

    async def unanswered(self, conversation_id: str) -> list[dict]:
        """The shopper messages waiting for an answer, oldest first."""
        return await self.db.read(lambda c: [
            message_dict(r) for r in unanswered_in(c, conversation_id)])

    async def mark_read(self, conversation_id: str, upto: Optional[int] = None) -> None:
        """The owner has read the conversation up to a message (default: all of it)."""
        def mark(c):
            last = c.execute("SELECT MAX(id) FROM messages WHERE conversation_id = ?",
                             (conversation_id,)).fetchone()[0] or 0
            mark_at = min(upto, last) if upto is not None else last
            c.execute("UPDATE conversations SET read_upto = MAX(COALESCE(read_upto, 0), ?)"
                      " WHERE conversation_id = ?", (mark_at, conversation_id))

        await self.db.write(mark)

    # -- handoff, resolve, reassign --------------------------------------------------------
    async def handoff(self, conversation_id: str, reason: str, *,
                      requested_discount_pct: Optional[float] = None,
                      message_id: Optional[int] = None) -> dict:
        """Hand a bot conversation to the humans: queued, then assigned when someone can
        take it; `message_id` is the shopper message that brought it about. Returns
        {"changed": bool, "assigned": [(conversation_id, agent_id)]}."""
        presence = self.policy.presence()
        now = presence.now

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
            _log_handoff(c, conversation_id, reason, now, requested_discount_pct,
                         message_id)
            return {"changed": True, "assigned": routing.drain(c, presence)}

        return await self.db.write(hand_over)

    async def drain(self) -> Assignments:
        """Assign what the queue can give to the agents present now."""
        presence = self.policy.presence()
        return await self.db.write(lambda c: routing.drain(c, presence))

    async def resolve(self, conversation_id: str, agent: dict,
                      confirm: bool = False) -> Assignments:
        """The owner (or a supervisor) resolves; frees a place, so the queue drains.
        While the shopper's last message has no answer after it, refused with 409
        (`reason` "unanswered", and that message) unless `confirm`."""
        presence = self.policy.presence()
        now = presence.now

        def close(c):
            conv = conversation_row(c, conversation_id, "state, agent_id")
            if conv["state"] != "assigned":
                raise Conflict(f"conversation is {conv['state']}, not assigned",
                               reason="not_assigned")
            if conv["agent_id"] != agent["agent_id"] and agent["role"] != "supervisor":
                raise Forbidden("only the owner resolves a conversation")
            if not confirm:
                waiting = unanswered_in(c, conversation_id)
                last = c.execute("SELECT MAX(id) FROM messages WHERE conversation_id = ?"
                                 " AND sender = 'shopper'",
                                 (conversation_id,)).fetchone()[0]
                if waiting and waiting[-1]["id"] == last:
                    raise Conflict("the shopper's last message has no answer yet; resolve"
                                   " with confirm: true to close it anyway",
                                   reason="unanswered",
                                   shopper_message=message_dict(waiting[-1]))
            c.execute("UPDATE conversations SET state = 'resolved', resolved_at = ?,"
                      " updated_at = ? WHERE conversation_id = ?",
                      (timestamp(now), timestamp(now), conversation_id))
            routing.log(c, conversation_id, conv["agent_id"], "resolve", now,
                        by_agent_id=agent["agent_id"])
            return routing.drain(c, presence)

        return await self.db.write(close)

    async def reassign(self, conversation_id: str, to_agent_id: int, reason: str,
                       by: dict) -> Assignments:
        """A supervisor gives an assigned or queued conversation to another agent (the only
        way ownership moves), recorded with the reason. Only to an agent who is present,
        speaks the conversation's language and has a free place (else 409 with `reason`:
        `away`, `language`, `at_cap`, `daily_cap`). The former owner's place frees, so the
        queue drains; returns the assignments that made."""
        if by.get("role") != "supervisor":
            raise Forbidden("only a supervisor can reassign")
        if not reason or not str(reason).strip():
            raise DeskError("a reason is required")
        presence = self.policy.presence()
        now = presence.now

        def move(c):
            conv = conversation_row(c, conversation_id, "state, agent_id, locale")
            if conv["state"] not in ("assigned", "queued"):
                raise Conflict(f"conversation is {conv['state']}", reason="not_open")
            target = agent_in(c, to_agent_id, presence)
            if target is None or c.execute("SELECT enabled FROM agents WHERE agent_id = ?",
                                           (to_agent_id,)).fetchone()[0] != 1:
                raise NotFound("no such agent")
            if conv["agent_id"] == to_agent_id:
                raise Conflict("that agent already owns it", reason="owner")
            why = routing.why_not(target, conv["locale"])
            if why is not None:
                raise Conflict(f"{target['display_name']} cannot take it: {why}"
                               f" ({target['active']} of {target['cap']} now,"
                               f" {target['today']} of {target['daily_cap']} today)",
                               reason=why, agent=target)
            c.execute("UPDATE conversations SET state = 'assigned', agent_id = ?,"
                      " assigned_at = COALESCE(assigned_at, ?), preferred_agent_id = NULL,"
                      " updated_at = ? WHERE conversation_id = ?",
                      (to_agent_id, timestamp(now), timestamp(now), conversation_id))
            routing.log(c, conversation_id, to_agent_id, "reassign", now, reason=reason,
                        from_agent_id=conv["agent_id"], by_agent_id=by["agent_id"])
            return routing.drain(c, presence)

        return await self.db.write(move)

    async def leave_contact(self, conversation_id: str, contact: str, text: str,
                            locale: str) -> dict:
        """Out of hours (or with nobody online): a contact and a question. A bot or
        resolved conversation becomes a queued one (reason `contact`); a queued one keeps
        its place. Returns {"message": the stored shopper message, "assigned"}."""
        presence = self.policy.presence()
        now = presence.now

        def leave(c):
            conv = conversation_row(c, conversation_id, "state, agent_id")
            c.execute("INSERT INTO contact_messages (conversation_id, contact, text, locale,"
                      " created_at) VALUES (?, ?, ?, ?, ?)",
                      (conversation_id, contact, text, locale, timestamp(now)))
            queue_it = conv["state"] in ("bot", "resolved")
            msg = _insert_message(
                c, conversation_id, "shopper", timestamp(now), text=text,
                custom=to_json({"type": "contact", "contact": contact}),
                state="queued" if queue_it else conv["state"],
                owner_id=conv["agent_id"] if conv["state"] == "assigned" else None)
            c.execute("UPDATE conversations SET contact = ?, updated_at = ?"
                      " WHERE conversation_id = ?", (contact, timestamp(now), conversation_id))
            if queue_it:
                c.execute("UPDATE conversations SET state = 'queued', agent_id = NULL,"
                          " queued_at = ?, resolved_at = NULL, handoff_reason = 'contact',"
                          " requested_discount_pct = NULL WHERE conversation_id = ?",
                          (timestamp(now), conversation_id))
                _log_handoff(c, conversation_id, "contact", now, message_id=msg["id"])
            return {"message": msg, "assigned": routing.drain(c, presence)}

        return await self.db.write(leave)

    # -- notes, labels, rating -----------------------------------------------------------------
    async def add_note(self, conversation_id: str, agent: dict, text: str) -> dict:
        """A private note on a conversation (agents only; never in the shopper's
        history or on their socket)."""
        now = timestamp(self._now())

        def insert(c):
            conversation_row(c, conversation_id, "state")
            row = c.execute("INSERT INTO notes (conversation_id, agent_id, text, created_at)"
                            " VALUES (?, ?, ?, ?) RETURNING id", (conversation_id,
                                                                  agent["agent_id"], text,
                                                                  now)).fetchone()
            return _note(c, row[0])

        return await self.db.write(insert)

    async def notes(self, conversation_id: str) -> list[dict]:
        return await self.db.read(lambda c: [_note(c, r[0]) for r in c.execute(
            "SELECT id FROM notes WHERE conversation_id = ? ORDER BY id",
            (conversation_id,))])

    async def set_labels(self, conversation_id: str, labels: list[str]) -> list[str]:
        """Replace a conversation's labels (at most 10, each 1–30 characters, kept
        as written, duplicates once); returns them sorted."""
        clean = sorted({str(x).strip() for x in labels if str(x).strip()})
        if len(clean) > MAX_LABELS or any(len(x) > MAX_LABEL_LENGTH for x in clean):
            raise DeskError(f"at most {MAX_LABELS} labels of at most {MAX_LABEL_LENGTH}"
                            " characters")

        def replace(c):
            conversation_row(c, conversation_id, "state")
            c.execute("DELETE FROM conversation_labels WHERE conversation_id = ?",
                      (conversation_id,))
            c.executemany("INSERT INTO conversation_labels (conversation_id, label)"
                          " VALUES (?, ?)", [(conversation_id, x) for x in clean])
            return clean

        return await self.db.write(replace)

    async def rate(self, conversation_id: str, score: int,
                   comment: Optional[str] = None) -> dict:
        """The shopper rates the cycle just resolved (1–5, an optional comment), once per
        resolution; 409 when the conversation is not resolved or that cycle is rated."""
        if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
            raise DeskError("'score' must be an integer from 1 to 5")
        now = self._now()

        def insert(c):
            conv = conversation_row(c, conversation_id, "state")
            if conv["state"] != "resolved":
                raise Conflict("only a resolved conversation can be rated",
                               reason="not_resolved")
            resolution = c.execute(
                "SELECT id, agent_id FROM assignments WHERE conversation_id = ? AND"
                " kind = 'resolve' ORDER BY id DESC LIMIT 1", (conversation_id,)).fetchone()
            try:
                row = c.execute(
                    "INSERT INTO ratings (conversation_id, resolve_id, agent_id, score,"
                    " comment, day, created_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING *",
                    (conversation_id, resolution["id"], resolution["agent_id"], score,
                     comment or None, routing.today_key(now), timestamp(now))).fetchone()
            except self.db.IntegrityError as exc:
                raise Conflict("this conversation is already rated",
                               reason="already_rated") from exc
            return {"score": row["score"], "comment": row["comment"],
                    "created_at": row["created_at"]}

        return await self.db.write(insert)

    async def rating_open(self, conversation_id: str) -> bool:
        """Whether the shopper may rate now: resolved, and that cycle not rated yet."""
        def check(c):
            conv = conversation_row(c, conversation_id, "state")
            if conv["state"] != "resolved":
                return False
            return c.execute(
                "SELECT NOT EXISTS (SELECT 1 FROM ratings WHERE resolve_id = (SELECT MAX(id)"
                " FROM assignments WHERE conversation_id = ? AND kind = 'resolve'))",
                (conversation_id,)).fetchone()[0] == 1

        return await self.db.read(check)

    # -- the queue and the lists -----------------------------------------------------------
    async def queue(self) -> list[dict]:
        """Queued conversations' summaries, longest waiting first."""
        presence = self.policy.presence()
        return await self.db.read(lambda c: by_waiting(
            summary_in(c, r["conversation_id"], presence) for r in routing.queued(c)))

    async def queue_estimates(self, extra_locale: Optional[str] = None) -> dict[str, dict]:
        """{conversation_id: {"position", "estimated_wait_s", "agents_online"}} of every
        queued one (routing.queue_estimates; "" for a shopper joining in
        `extra_locale`)."""
        return await self.db.read(routing.queue_estimates, self.policy.presence(),
                                  self.policy.default_handle_s, extra_locale)

    async def mine(self, agent_id: int) -> list[dict]:
        """The summaries of what an agent owns now, longest waiting first."""
        return await self._summaries(
            "SELECT conversation_id FROM conversations WHERE agent_id = ? AND"
            " state = 'assigned' ORDER BY assigned_at, seq", (agent_id,))

    async def assigned(self) -> list[dict]:
        """Every conversation an agent owns now (what a supervisor oversees)."""
        return await self._summaries(
            "SELECT conversation_id FROM conversations WHERE state = 'assigned'"
            " ORDER BY assigned_at, seq", ())

    async def _summaries(self, sql: str, params: tuple) -> list[dict]:
        presence = self.policy.presence()
        return await self.db.read(lambda c: by_waiting(
            summary_in(c, r[0], presence) for r in c.execute(sql, params).fetchall()))

    async def summary(self, conversation_id: str) -> Optional[dict]:
        return await self.db.read(summary_in, conversation_id, self.policy.presence())

    async def ownership_log(self, conversation_id: Optional[str] = None) -> list[dict]:
        """Assign, reopen, reassign and resolve lines, in commit order."""
        if conversation_id:
            sql, params = ("SELECT * FROM assignments WHERE conversation_id = ? ORDER BY id",
                           (conversation_id,))
        else:
            sql, params = "SELECT * FROM assignments ORDER BY id", ()
        return await self.db.read(lambda c: [dict(r) for r in c.execute(sql, params)])

    async def status_counts(self, locale: Optional[str] = None) -> dict:
        """Agents present, queue length and the wait a shopper joining now can expect
        (for one language when given; else the shorter of the two)."""
        presence = self.policy.presence()
        langs = [locale] if locale else ["zh", "en"]

        def count(c):
            loads = routing.online_agents(c, presence)
            queued = [r["locale"] for r in routing.queued(c)]
            joins = {lang: routing.queue_estimates(c, presence, self.policy.default_handle_s,
                                                   lang)[""] for lang in langs}
            return loads, queued, joins

        loads, queued, joins = await self.db.read(count)
        waits = [j["estimated_wait_s"] for j in joins.values()
                 if j["estimated_wait_s"] is not None]
        return {"agents_online": sum(1 for a in loads if any(
                    lang in a.languages for lang in langs)),
                "queue_length": sum(1 for lang in queued if lang in langs),
                "estimated_wait_s": min(waits) if waits else None}


def _note(c, note_id: int) -> dict:
    row = c.execute("SELECT n.*, a.display_name FROM notes n LEFT JOIN agents a"
                    " ON a.agent_id = n.agent_id WHERE n.id = ?", (note_id,)).fetchone()
    return {"id": row["id"], "conversation_id": row["conversation_id"],
            "agent_id": row["agent_id"], "agent_name": row["display_name"],
            "text": row["text"], "created_at": row["created_at"]}
