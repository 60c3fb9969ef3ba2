"""Talks to Rasa for the desk: the REST channel for replies, the HTTP API (`--enable-api`,
with the API token of bot/api_token.py) for the latest intent and entities shown to the
agent.

The metadata keys are the ones the actions read (actions/context.py, actions/orders.py):
`page` ({"product_id", ...}), `locale`, `customer_id`, plus `cart` for the record.
"""

from __future__ import annotations

import asyncio
from typing import Any, Optional
from urllib.parse import quote

import aiohttp


class RasaUnavailable(Exception):
    """Rasa did not answer in time, or answered with an error."""


class RasaClient:
    def __init__(self, base_url: str, timeout: float = 5.0, tracker_timeout: float = 2.0,
                 token: Optional[str] = None):
        self.base_url = base_url.rstrip("/")
        self.token = token      # Rasa's HTTP API token; None: the installation's
        self.timeout = timeout
        self.tracker_timeout = tracker_timeout
        self._session: Optional[aiohttp.ClientSession] = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=256, keepalive_timeout=30))
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @staticmethod
    def metadata(conversation: dict, message_metadata: Optional[dict] = None) -> dict:
        meta = message_metadata or {}
        page = meta.get("page") if isinstance(meta.get("page"), dict) \
            else conversation.get("page") or {}
        cart = meta.get("cart") if isinstance(meta.get("cart"), list) \
            else conversation.get("cart")
        out: dict[str, Any] = {"page": page, "locale": conversation.get("locale")}
        if cart is not None:
            out["cart"] = cart
        if conversation.get("customer_id"):
            out["customer_id"] = conversation["customer_id"]
        return out

    async def send(self, sender: str, text: str, metadata: dict) -> list[dict]:
        """Rasa's replies (REST response shape) to one shopper message."""
        url = f"{self.base_url}/webhooks/rest/webhook"
        body = {"sender": sender, "message": text, "metadata": metadata}
        try:
            async with self.session.post(
                    url, json=body, timeout=aiohttp.ClientTimeout(total=self.timeout)) as resp:
                if resp.status != 200:
                    raise RasaUnavailable(f"Rasa answered {resp.status}")
                data = await resp.json(content_type=None)
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
            raise RasaUnavailable(str(exc) or type(exc).__name__) from exc
        if not isinstance(data, list):
            raise RasaUnavailable("Rasa's answer is not a list")
        return merge_split_replies([r for r in data if isinstance(r, dict)])

    async def latest_parse(self, sender: str) -> Optional[dict]:
        """{"intent", "confidence", "entities"} of the latest shopper message, or None."""
        url = f"{self.base_url}/conversations/{quote(sender, safe='')}/tracker"
        if self.token is None:
            from bot.api_token import rasa_api_token

            self.token = rasa_api_token()
        try:
            async with self.session.get(
                    url, params={"include_events": "NONE", "token": self.token},
                    timeout=aiohttp.ClientTimeout(total=self.tracker_timeout)) as resp:
                if resp.status != 200:
                    return None
                data = await resp.json(content_type=None)
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError):
            return None
        latest = (data or {}).get("latest_message") or {}
        intent = latest.get("intent") or {}
        return {"intent": intent.get("name"), "confidence": intent.get("confidence"),
                "entities": [{"entity": e.get("entity"), "value": e.get("value")}
                             for e in latest.get("entities") or []],
                "slots": {k: v for k, v in ((data or {}).get("slots") or {}).items()
                          if v is not None and k in ("product", "size", "color", "language",
                                                     "page_product", "category")}}


def merge_split_replies(replies: list[dict]) -> list[dict]:
    """Put each answer's facts back with its words.

    An action sends one message with `text` (and `buttons`) and `custom`; Rasa's output
    channel splits it into a text reply followed by a custom-only reply. The desk keeps
    them as one message, so that the widget draws the card under its text and an agent's
    suggestion carries the facts it rests on (and is re-checked at send time)."""
    out: list[dict] = []
    for reply in replies:
        prev = out[-1] if out else None
        custom_only = reply.get("custom") is not None and not any(
            reply.get(k) for k in ("text", "buttons", "image", "attachment"))
        if (custom_only and prev is not None and prev.get("text")
                and prev.get("custom") is None
                and prev.get("recipient_id") == reply.get("recipient_id")):
            out[-1] = {**prev, "custom": reply["custom"]}
        else:
            out.append(dict(reply))
    return out
