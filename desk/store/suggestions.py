"""Suggestions: the bot's drafts for the owner of a handed-off conversation, each with the
catalog facts it rests on, and what the agent did with it (accepted as drafted, edited,
or rejected), with the draft and the final text kept side by side."""

from __future__ import annotations

from typing import Optional

from ..errors import Conflict, Forbidden, NotFound
from .db import Database
from .records import DeskPolicy, suggestion_dict, timestamp, to_json


def undecided_in(c, suggestion_id: int, conversation_id: str):
    """A suggestion's row, inside a transaction, when it belongs to the conversation and
    nobody has decided on it yet; NotFound or Conflict else."""
    row = c.execute("SELECT * FROM suggestions WHERE id = ? AND conversation_id = ?",
                    (suggestion_id, conversation_id)).fetchone()
    if row is None:
        raise NotFound("no such suggestion in this conversation")
    if row["outcome"] is not None:
        raise Conflict(f"suggestion already {row['outcome']}")
    return row


def record_sent(c, suggestion_id: int, final_text: str, as_drafted: bool, message_id: int,
                agent: dict, now: str) -> dict:
    """Record that the agent sent a suggestion (accepted as drafted, else edited), inside
    the transaction that stores the agent's message; returns the suggestion."""
    row = c.execute("UPDATE suggestions SET outcome = ?, final_text = ?, sent_message_id = ?,"
                    " agent_id = ?, decided_at = ? WHERE id = ? RETURNING *",
                    ("accepted" if as_drafted else "edited", final_text, message_id,
                     agent["agent_id"], now, suggestion_id)).fetchone()
    return suggestion_dict(row)


class Suggestions:
    """Drafts and their outcomes (see the module docstring)."""

    def __init__(self, db: Database, policy: DeskPolicy):
        self.db = db
        self.policy = policy

    async def add(self, conversation_id: str, message_id: int,
                  items: list[dict]) -> list[dict]:
        """Store drafts answering one shopper message; items: [{"kind", "text", "buttons",
        "custom", "facts"}]. Returns them stored."""
        now = timestamp(self.policy.clock())

        def insert(c):
            return [suggestion_dict(c.execute(
                "INSERT INTO suggestions (conversation_id, message_id, kind, text, buttons,"
                " custom, facts, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING *",
                (conversation_id, message_id, s["kind"], s.get("text") or "",
                 to_json(s.get("buttons") or None), to_json(s.get("custom")),
                 to_json(s.get("facts") or {}), now)).fetchone()) for s in items]

        return await self.db.write(insert)

    async def get(self, suggestion_id: int) -> Optional[dict]:
        def find(c):
            row = c.execute("SELECT * FROM suggestions WHERE id = ?",
                            (suggestion_id,)).fetchone()
            return suggestion_dict(row) if row else None

        return await self.db.read(find)

    async def of_conversation(self, conversation_id: str) -> list[dict]:
        return await self.db.read(lambda c: [suggestion_dict(r) for r in c.execute(
            "SELECT * FROM suggestions WHERE conversation_id = ? ORDER BY id",
            (conversation_id,))])

    async def skip(self, suggestion_id: int, agent: dict) -> dict:
        """The owner skips a draft (outcome `rejected`)."""
        now = timestamp(self.policy.clock())

        def reject(c):
            row = c.execute("SELECT s.outcome, c.agent_id FROM suggestions s JOIN"
                            " conversations c ON c.conversation_id = s.conversation_id"
                            " WHERE s.id = ?", (suggestion_id,)).fetchone()
            if row is None:
                raise NotFound("no such suggestion")
            if row["agent_id"] != agent["agent_id"]:
                raise Forbidden("not your conversation")
            if row["outcome"] is not None:
                raise Conflict(f"suggestion already {row['outcome']}")
            return suggestion_dict(c.execute(
                "UPDATE suggestions SET outcome = 'rejected', agent_id = ?, decided_at = ?"
                " WHERE id = ? RETURNING *", (agent["agent_id"], now, suggestion_id))
                .fetchone())

        return await self.db.write(reject)
