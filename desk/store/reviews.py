"""The review list: shopper messages the bot may have misunderstood, for an agent or a
supervisor to confirm or correct the intent (and entities) the bot read in them.

Two tables. `message_parses` keeps what the bot read in each shopper message it was asked
about (intent, confidence, its top intents, entities, the language), written right after
Rasa's answer (desk/service.py). `reviews` holds one entry per message that needs a
look, at most one for a message whatever happens to it later (`message_id` is unique):

- `not_understood`: the bot read nlu_fallback, out_of_scope, or an intent below the
  review confidence (`SHOPASSIST_DESK_REVIEW_BELOW_CONFIDENCE`);
- `before_handoff`: the message that brought a handoff about;
- `draft_edited` / `draft_skipped`: the agent edited or skipped the bot's draft answering it.

A review carries the bot's reading as it was then, and, once reviewed, the reviewer, the
confirmed intent and entities and when; reviewing again replaces the label. Who sees an
entry follows who may open its conversation (desk/service.py `conversation_for_agent`):
its owner, and supervisors for every one. `shopassist nlu export-reviewed`
(bot/reviewed_data.py) turns the reviewed entries into training data.
"""

from __future__ import annotations

from datetime import datetime
from typing import Optional

from bot.reviewed_data import LANGUAGES, language_of

from ..errors import Forbidden, NotFound
from .db import Database
from .records import DeskPolicy, from_json, timestamp, to_json

REASONS = ("not_understood", "before_handoff", "draft_edited", "draft_skipped")
NOT_UNDERSTOOD = ("nlu_fallback", "out_of_scope")


def not_understood(parse: dict, below_confidence: float) -> bool:
    intent, confidence = parse.get("intent"), parse.get("confidence")
    return (intent is None or intent in NOT_UNDERSTOOD
            or (confidence is not None and confidence < below_confidence))


def review_dict(row) -> dict:
    return {"id": row["id"], "message_id": row["message_id"],
            "conversation_id": row["conversation_id"], "text": row["text"],
            "language": row["language"], "reason": row["reason"],
            "bot_intent": row["bot_intent"], "bot_confidence": row["bot_confidence"],
            "bot_ranking": from_json(row["bot_ranking"]) or [],
            "bot_entities": from_json(row["bot_entities"]) or [],
            "created_at": row["created_at"], "reviewer_id": row["reviewer_id"],
            "reviewer_name": row["reviewer_name"],
            "intent": row["confirmed_intent"],
            "entities": from_json(row["confirmed_entities"]),
            "reviewed_at": row["reviewed_at"]}


SELECT = ("SELECT r.*, a.display_name AS reviewer_name FROM reviews r"
          " JOIN conversations c ON c.conversation_id = r.conversation_id"
          " LEFT JOIN agents a ON a.agent_id = r.reviewer_id")
# the entries an agent may see: their own conversations', every one for a supervisor
VISIBLE = "(? = 'supervisor' OR c.agent_id = ?)"


def _visible(agent: dict) -> tuple:
    return (agent["role"], agent["agent_id"])


def iso_week(created_at: str) -> str:
    year, week, _ = datetime.fromisoformat(created_at).isocalendar()
    return f"{year}-W{week:02d}"


def agreement(rows: list) -> dict:
    """Reviewed entries, and the share whose confirmed intent is the bot's own."""
    right = sum(1 for r in rows if r["confirmed_intent"] == r["bot_intent"])
    return {"reviewed": len(rows), "bot_right": right,
            "share_bot_right": round(right / len(rows), 4) if rows else None}


class Reviews:
    """The bot's readings of shopper messages and the review list (see the module
    docstring)."""

    def __init__(self, db: Database, policy: DeskPolicy):
        self.db = db
        self.policy = policy

    async def remember_parse(self, message_id: int, parse: dict) -> None:
        """What the bot read in a shopper message ({"intent", "confidence",
        "intent_ranking", "entities", "slots"} as desk/rasa_client.py `latest_parse`
        gives it); the latest reading of a message replaces an earlier one."""
        now = timestamp(self.policy.clock())
        ranking = [{"name": r.get("name"), "confidence": r.get("confidence")}
                   for r in parse.get("intent_ranking") or []][:9]
        language = (parse.get("slots") or {}).get("language")

        def upsert(c):
            c.execute("INSERT INTO message_parses (message_id, intent, confidence, ranking,"
                      " entities, language, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
                      " ON CONFLICT (message_id) DO UPDATE SET intent = excluded.intent,"
                      " confidence = excluded.confidence, ranking = excluded.ranking,"
                      " entities = excluded.entities, language = excluded.language,"
                      " created_at = excluded.created_at",
                      (message_id, parse.get("intent"), parse.get("confidence"),
                       to_json(ranking), to_json(parse.get("entities") or []),
                       language if language in LANGUAGES else None, now))

        await self.db.write(upsert)

    async def enter(self, message_id: int, reason: str) -> Optional[dict]:
        """Put a shopper message on the review list, with the bot's reading of it when
        there is one; None when it is on the list already (or is not a shopper
        message)."""
        if reason not in REASONS:
            raise ValueError(f"unknown review reason {reason!r}")
        now = timestamp(self.policy.clock())

        def insert(c):
            msg = c.execute("SELECT m.id, m.conversation_id, m.text, p.intent, p.confidence,"
                            " p.ranking, p.entities, p.language FROM messages m LEFT JOIN"
                            " message_parses p ON p.message_id = m.id"
                            " WHERE m.id = ? AND m.sender = 'shopper'",
                            (message_id,)).fetchone()
            if msg is None or not msg["text"].strip():
                return None
            row = c.execute(
                "INSERT INTO reviews (message_id, conversation_id, text, language, reason,"
                " bot_intent, bot_confidence, bot_ranking, bot_entities, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (message_id) DO NOTHING"
                " RETURNING id", (msg["id"], msg["conversation_id"], msg["text"],
                                  language_of(msg["text"], msg["language"]), reason,
                                  msg["intent"], msg["confidence"], msg["ranking"],
                                  msg["entities"], now)).fetchone()
            if row is None:
                return None
            return review_dict(c.execute(SELECT + " WHERE r.id = ?", (row["id"],))
                               .fetchone())

        return await self.db.write(insert)

    async def pending(self, agent: dict, limit: int = 50) -> list[dict]:
        """The entries not reviewed yet that the agent may see, oldest first."""
        return await self.db.read(lambda c: [review_dict(r) for r in c.execute(
            SELECT + " WHERE r.reviewed_at IS NULL AND " + VISIBLE
            + " ORDER BY r.id LIMIT ?", (*_visible(agent), limit))])

    async def get(self, review_id: int, agent: dict) -> dict:
        def find(c):
            row = c.execute(SELECT + " WHERE r.id = ?", (review_id,)).fetchone()
            if row is None:
                raise NotFound("no such review")
            if not c.execute("SELECT 1 FROM conversations c WHERE c.conversation_id = ?"
                             " AND " + VISIBLE, (row["conversation_id"], *_visible(agent))
                             ).fetchone():
                raise Forbidden("not your conversation")
            return review_dict(row)

        return await self.db.read(find)

    async def review(self, review_id: int, agent: dict, intent: str,
                     entities: Optional[list[dict]]) -> dict:
        """The agent confirms or corrects an entry: the intent (checked by the caller
        against the domain's) and the entities (None: the bot's, as it read them)."""
        now = timestamp(self.policy.clock())

        def label(c):
            row = c.execute("SELECT r.bot_entities FROM reviews r JOIN conversations c"
                            " ON c.conversation_id = r.conversation_id WHERE r.id = ?",
                            (review_id,)).fetchone()
            if row is None:
                raise NotFound("no such review")
            if not c.execute("SELECT 1 FROM reviews r JOIN conversations c ON"
                             " c.conversation_id = r.conversation_id WHERE r.id = ? AND "
                             + VISIBLE, (review_id, *_visible(agent))).fetchone():
                raise Forbidden("not your conversation")
            kept = row["bot_entities"] if entities is None else to_json(entities)
            c.execute("UPDATE reviews SET reviewer_id = ?, confirmed_intent = ?,"
                      " confirmed_entities = ?, reviewed_at = ? WHERE id = ?",
                      (agent["agent_id"], intent, kept or "[]", now, review_id))
            return review_dict(c.execute(SELECT + " WHERE r.id = ?", (review_id,))
                               .fetchone())

        return await self.db.write(label)

    async def counts(self, agent: dict, model_installed_at: Optional[str] = None,
                     weeks: int = 8) -> dict:
        """What the agent may see of the list: reviewed and pending entries, pending by
        reason, and how understanding changed: the share of reviewed entries whose
        confirmed intent is the bot's, by ISO week of the message (the latest `weeks`)
        and for messages the bot read since the installed model was installed."""
        def count(c):
            rows = c.execute(SELECT + " WHERE " + VISIBLE + " ORDER BY r.id",
                             _visible(agent)).fetchall()
            done = [r for r in rows if r["reviewed_at"] is not None]
            by_reason = {reason: 0 for reason in REASONS}
            for r in rows:
                if r["reviewed_at"] is None:
                    by_reason[r["reason"]] += 1
            by_week: dict[str, list] = {}
            for r in done:
                by_week.setdefault(iso_week(r["created_at"]), []).append(r)
            out = {"reviewed": len(done), "pending": len(rows) - len(done),
                   "pending_by_reason": by_reason,
                   "weeks": [{"week": w, **agreement(by_week[w])}
                             for w in sorted(by_week)[-weeks:]],
                   "since_model": None}
            if model_installed_at:
                since = datetime.fromisoformat(model_installed_at)
                out["since_model"] = {"installed_at": model_installed_at, **agreement(
                    [r for r in done if datetime.fromisoformat(r["created_at"]) >= since])}
            return out

        return await self.db.read(count)

    async def reviewed(self) -> list[dict]:
        """Every reviewed entry (the export reads them all: it runs for the shop)."""
        return await self.db.read(lambda c: [review_dict(r) for r in c.execute(
            SELECT + " WHERE r.reviewed_at IS NOT NULL ORDER BY r.reviewed_at, r.id")])
