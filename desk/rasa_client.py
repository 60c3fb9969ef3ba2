"""Talks to Rasa for the desk: the REST channel for replies, the HTTP API (`--enable-api`,
with the API token of bot/api_token.py) for the latest intent and entities shown to the
agent.

Calls to the REST channel go through a FIFO gate: at most `max_in_flight` are in flight
at once, the rest wait their turn in arrival order, so a burst of shoppers queues in the
desk (where waiting is not failing) instead of inside Rasa (where it would run into the
call's timeout). `answer()` holds a message while Rasa is starting or restarting
(connection refused, a 5xx from the router, a call that timed out): it retries with
back-off and gives up only when the failures have lasted `hold_s`.

The metadata keys are the ones the actions read (actions/base.py, actions/orders.py):
`page` ({"product_id", ...}), `locale`, `customer_id` (with `customer_sig`, added by the
desk's service), plus `cart` for the record.
"""

from __future__ import annotations

import asyncio
import collections
import time
from typing import Any, Optional
from urllib.parse import quote

import aiohttp

from .security import peer_loads

RETRY_DELAYS_S = (0.25, 0.5, 1.0, 2.0, 4.0)     # back-off between tries, then the last again


class RasaUnavailable(Exception):
    """Rasa did not answer in time, or answered with an error; `started` is when the
    failed call went in flight (time.monotonic())."""

    def __init__(self, message: str, started: Optional[float] = None):
        super().__init__(message)
        self.started = time.monotonic() if started is None else started


class FifoGate:
    """At most `limit` holders at once; the others wait in arrival order (no barging:
    a released place goes to the longest waiter)."""

    def __init__(self, limit: int):
        self.limit = max(1, limit)
        self.active = 0
        self._waiters: collections.deque[asyncio.Future] = collections.deque()

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    async def __aenter__(self) -> None:
        if self.active < self.limit and not self._waiters:
            self.active += 1
            return
        fut = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        try:
            await fut                     # the releaser handed its place over
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self._release()           # handed over just as we were cancelled
            else:
                self._waiters.remove(fut)
            raise

    async def __aexit__(self, *exc) -> None:
        self._release()

    def _release(self) -> None:
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(None)      # the place passes on; `active` unchanged
                return
        self.active -= 1


class RasaClient:
    def __init__(self, base_url: str, timeout: float = 30.0, tracker_timeout: float = 2.0,
                 max_in_flight: int = 8, token: Optional[str] = None):
        self.base_url = base_url.rstrip("/")
        self.token = token      # Rasa's HTTP API token; None: the installation's
        self.timeout = timeout
        self.tracker_timeout = tracker_timeout
        self.gate = FifoGate(max_in_flight)
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
        """Rasa's replies (REST response shape) to one shopper message: one call, made
        when the gate lets it through; RasaUnavailable when it fails or takes longer than
        `timeout` once in flight (the time waiting at the gate does not count)."""
        url = f"{self.base_url}/webhooks/rest/webhook"
        body = {"sender": sender, "message": text, "metadata": metadata}
        async with self.gate:
            started = time.monotonic()
            try:
                async with self.session.post(
                        url, json=body,
                        timeout=aiohttp.ClientTimeout(total=self.timeout)) as resp:
                    if resp.status != 200:
                        raise RasaUnavailable(f"Rasa answered {resp.status}", started)
                    data = peer_loads(await resp.read())
            except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
                raise RasaUnavailable(str(exc) or type(exc).__name__, started) from exc
        if not isinstance(data, list):
            raise RasaUnavailable("Rasa's answer is not a list", started)
        return merge_split_replies([r for r in data if isinstance(r, dict)])

    async def answer(self, sender: str, text: str, metadata: dict,
                     hold_s: float) -> list[dict]:
        """`send`, tried again with back-off while Rasa fails (starting, restarting, a
        call that timed out); RasaUnavailable once the failures have lasted `hold_s`
        seconds, counted from when the first failed call went in flight. Waiting at the
        gate is not failing: it never counts."""
        first_failure: Optional[float] = None
        tries = 0
        while True:
            try:
                return await self.send(sender, text, metadata)
            except RasaUnavailable as exc:
                first_failure = exc.started if first_failure is None else first_failure
                left = hold_s - (time.monotonic() - first_failure)
                if left <= 0:
                    raise
                delay = RETRY_DELAYS_S[min(tries, len(RETRY_DELAYS_S) - 1)]
                tries += 1
                await asyncio.sleep(min(delay, left))

    async def latest_parse(self, sender: str) -> Optional[dict]:
        """{"intent", "confidence", "intent_ranking", "entities", "slots"} of the latest
        shopper message, or None."""
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
                data = peer_loads(await resp.read())
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError):
            return None
        latest = (data or {}).get("latest_message") or {}
        intent = latest.get("intent") or {}
        return {"intent": intent.get("name"), "confidence": intent.get("confidence"),
                "intent_ranking": [{"name": r.get("name"), "confidence": r.get("confidence")}
                                   for r in latest.get("intent_ranking") or []
                                   if isinstance(r, dict)][:9],
                "entities": [{"entity": e.get("entity"), "value": e.get("value"),
                              **{k: e[k] for k in ("start", "end") if isinstance(e.get(k), int)}}
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
