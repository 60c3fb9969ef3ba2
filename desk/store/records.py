"""What the store's parts share: the rules they apply (`DeskPolicy`), how values are
written to and read from the tables (JSON columns, timestamps, token hashes), and the rows
turned into the dicts the API answers with."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Optional

from ..errors import NotFound
from ..routing import Presence


@dataclass
class DeskPolicy:
    """The desk's clock and the numbers its rules use (bot/settings.py, docs/desk.md)."""

    clock: Callable[[], datetime]
    agent_cap: int = 8                 # concurrent conversations of a new agent
    daily_cap: int = 120               # conversations a day of a new agent
    reopen_minutes: int = 30           # a resolved conversation reopens within this
    default_handle_s: int = 300        # handling time assumed until measured
    presence_grace_s: float = 45       # an agent unseen for longer is away

    def presence(self) -> Presence:
        """Now, and who counts as present now (desk/routing.py)."""
        return Presence(self.clock(), self.presence_grace_s)


def token_hash(token: str) -> str:
    """What is stored of a shopper token or a session cookie: its SHA-256."""
    return hashlib.sha256(token.encode()).hexdigest()


def to_json(value: Any) -> Optional[str]:
    return None if value is None else json.dumps(value, ensure_ascii=False)


def from_json(text: Optional[str]) -> Any:
    return None if text is None else json.loads(text)


def timestamp(t: datetime) -> str:
    """ISO 8601 with milliseconds and offset: sorts as text within one offset."""
    return t.isoformat(timespec="milliseconds")


def conversation_row(conn, conversation_id: str, columns: str = "*"):
    """One conversation's row inside a transaction, or NotFound."""
    row = conn.execute(f"SELECT {columns} FROM conversations WHERE conversation_id = ?",
                       (conversation_id,)).fetchone()
    if row is None:
        raise NotFound("no such conversation")
    return row


def is_answer(sender: str, custom: Any) -> bool:
    """Whether a message answers the shopper messages before it: an agent's message
    answers them all; a bot's reply answers the message it replies to, unless it is only
    the notice of a handoff (a person is needed)."""
    if sender == "agent":
        return True
    if sender != "bot":
        return False
    return not (isinstance(custom, dict) and custom.get("type") == "handoff")


def message_dict(row) -> dict:
    return {"id": row["id"], "conversation_id": row["conversation_id"],
            "sender": row["sender"], "text": row["text"],
            "buttons": from_json(row["buttons"]) or [], "image": row["image"],
            "custom": from_json(row["custom"]), "created_at": row["created_at"],
            "client_id": row["client_id"], "agent_name": row["agent_name"]}


def suggestion_dict(row) -> dict:
    return {"id": row["id"], "conversation_id": row["conversation_id"],
            "message_id": row["message_id"], "text": row["text"],
            "buttons": from_json(row["buttons"]) or [], "custom": from_json(row["custom"]),
            "facts": from_json(row["facts"]) or {}, "kind": row["kind"],
            "outcome": row["outcome"], "final_text": row["final_text"],
            "created_at": row["created_at"]}


def conversation_dict(row) -> dict:
    """A conversation as the service works with it (no token hash, no creation number)."""
    out = dict(row)
    out.pop("token_hash", None)
    out.pop("seq", None)
    out["page"] = from_json(out["page"]) or {}
    out["cart"] = from_json(out["cart"])
    return out
