"""The desk's conversation logic: a shopper message's way through the bot or to the owner,
handoffs (the bot's own and the desk's rules), suggestions, the agents' side (log-in,
lists, sending, resolving, reassigning), and the pushes that follow.

The HTTP handlers (desk/app.py) only parse, authorize and call `DeskService`; the service
reaches the record only through the store's parts (desk/store/), awaiting each.
Invariant kept here: once a conversation has left the bot (queued, assigned), nothing Rasa
returns is ever stored as a shopper-visible message; it becomes suggestions for the owner.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import math
import time
from datetime import datetime, timedelta
from typing import Any, Optional

import yaml

from bot.local_secret import local_secret
from bot.settings import ROOT
from bot.training import model_path, scores_path
from bot.shop_identity import sign_customer, verified_customer
from catalog.queries import Catalog, CatalogError

from . import facts as factcheck
from . import metrics, routing
from .coordination import Coordination
from .errors import Conflict, DatabaseUnavailable, DeskError, Forbidden, NotFound
from .hub import Hub
from .login_limit import LoginLimiter, LoginPolicy, MemoryLoginLimiter
from .queue_notifier import QueueNotifier, queue_payload, queued_text
from .rasa_client import RasaClient, RasaUnavailable
from .routing import BusinessHours
from .store import DeskStore
from .store.reviews import not_understood
from .texts import TEXTS

logger = logging.getLogger(__name__)


def _custom(reply: dict) -> dict:
    custom = reply.get("custom")
    return custom if isinstance(custom, dict) else {}


def _percent(value: Any) -> Optional[float]:
    """A percentage from a bot payload (a number, or a catalog policy's numeric string),
    or None when there is none."""
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


# what the bot answers a queued shopper itself (clearly as the assistant, with a reminder
# of their place): the routine questions drawn from the catalog. Anything else (a
# greeting, a discount, a complaint, not understood) waits for the agent as a draft.
ROUTINE_ANSWERS = frozenset({"stock", "shipping", "price", "order_status", "return_policy",
                             "product_details"})
# shown beside a routine answer while queued (the cross-sells that follow a stock answer)
WITH_ROUTINE_ANSWERS = ROUTINE_ANSWERS | {"recommendations"}


def answers_while_queued(reply: dict) -> bool:
    """Whether a bot reply answers a queued shopper's question: a routine answer, but not
    "sign in first" alone (the order answer for a shopper not signed in, and all "快点" or
    "hurry up" gets while a person is coming: the person answers it)."""
    custom = _custom(reply)
    return (custom.get("type") in ROUTINE_ANSWERS
            and not (custom.get("type") == "order_status"
                     and custom.get("status") == "sign_in_required"))
# how far back the leader's sweep looks for stranded shopper messages (older ones are
# taken up by a replica's recovery on start)
SWEEP_HORIZON = timedelta(hours=1)


@functools.lru_cache(maxsize=1)
def domain_choices() -> tuple[list[str], list[str]]:
    """(intents, entity types) of the bot's domain (domain.yml), nlu_fallback left out: what
    a reviewer may choose."""
    domain = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
    names = [i if isinstance(i, str) else next(iter(i)) for i in domain.get("intents") or []]
    return ([n for n in names if n != "nlu_fallback"],
            [e if isinstance(e, str) else next(iter(e)) for e in domain.get("entities") or []])


class DeskService:
    def __init__(self, settings, store: DeskStore, rasa: RasaClient, catalog: Catalog,
                 hub: Hub, login_limiter: Optional[LoginLimiter] = None,
                 coordination: Optional[Coordination] = None):
        self.settings = settings
        self.shop_secret = local_secret("shop_secret", settings.shop_secret)
        self.login_limiter = login_limiter or MemoryLoginLimiter(
            LoginPolicy.from_settings(settings))
        self.store = store
        self.rasa = rasa
        self.catalog = catalog
        self.hub = hub
        # the timer's leader, conversation leases, what queued shoppers were told
        # (desk/coordination.py): this process alone, or shared through Redis
        self.coordination = coordination or Coordination(settings.desk_lease_s)
        self.queue_notifier = QueueNotifier(store, hub, self.coordination)
        self.hours = BusinessHours.parse(settings.desk_hours)
        self._locks: dict[str, asyncio.Lock] = {}
        # the turn of each shopper message not yet answered (by message id), and each
        # conversation's latest turn (the next one runs after it)
        self._turns: dict[int, asyncio.Task] = {}
        self._last_turn: dict[str, asyncio.Task] = {}
        self._waiting_told: set[str] = set()          # told "one moment", not answered yet
        self._waiting: dict[int, list[dict]] = {}     # that notice, by the message it is for
        # one conversation's messages reach Rasa one at a time, in the order they came (the
        # turns, and the drafts they leave running): its tracker follows the conversation
        self._rasa_order: dict[str, asyncio.Lock] = {}
        self._ticker: Optional[asyncio.Task] = None
        self._taken_up: set[int] = set()      # messages recover/sweep gave a turn to
        self._pending_since: dict[int, float] = {}    # the sweep's first sighting of each
        self._tasks: set[asyncio.Task] = set()
        self.parse_cache: dict[str, dict] = {}

    # -- helpers ---------------------------------------------------------------------------
    def now(self):
        return self.store.clock()

    def today(self) -> str:
        """The shop-local date now, "YYYY-MM-DD"."""
        return routing.today_key(self.now())

    def is_open(self) -> bool:
        return self.hours.is_open(self.now())

    def spawn(self, coro) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def start(self) -> None:
        """Start the timer (every `desk_tick_s` seconds; 0: none, the tests call `tick`)."""
        if self.settings.desk_tick_s > 0 and self._ticker is None:
            self._ticker = self.spawn(self._tick_forever(self.settings.desk_tick_s))

    async def _tick_forever(self, every_s: float) -> None:
        while True:
            await asyncio.sleep(every_s)
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the timer must go on
                logger.exception("desk tick failed")

    async def tick(self) -> None:
        """What the timer does: the consoles connected to this process are alive; then,
        on the leader only (desk/coordination.py; one process alone always leads):
        agents whose console went quiet for the grace period become away (and receive
        nothing new); the queue drains into any free place; queued shoppers whose place
        or wait now reads differently are told; stranded shopper messages are answered
        (`sweep`)."""
        await self.store.accounts.seen(self.hub.agent_ids())
        if not self.coordination.leads():
            return
        for agent in await self.store.accounts.sweep_absent():
            await self._presence_changed(agent, reason="no_heartbeat")
        assigned = await self.store.conversations.drain()
        for cid, agent_id in assigned:
            await self.on_assigned(cid, agent_id)
        await self.queue_notifier.push(agents=bool(assigned))
        await self.sweep()

    async def close(self) -> None:
        for t in list(self._tasks):
            t.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def _lock(self, conversation_id: str) -> asyncio.Lock:
        lock = self._locks.get(conversation_id)
        if lock is None:
            lock = self._locks[conversation_id] = asyncio.Lock()
        return lock

    async def health(self) -> None:
        """Raises when the database cannot be read."""
        await self.store.check()

    def cart_value(self, cart: Any) -> float:
        total = 0.0
        for item in cart if isinstance(cart, list) else []:
            if not isinstance(item, dict):
                continue
            try:
                qty = float(item.get("quantity") or 1)
                price = item.get("price")
                if price is None:
                    p = self.catalog.price(str(item.get("product_id") or ""))
                    price = p["price"] if p else 0
                total += qty * float(price)
            except (TypeError, ValueError, CatalogError):
                continue
        return total

    def rule_handoff(self, replies: list[dict]) -> Optional[dict]:
        """The desk's discount rule for this turn: the handoff's custom payload
        ({"type": "handoff", "reason": "discount", "requested_discount_pct"}) when a human
        should take it, else None. The figure asked for is the bot's (its `discount`
        payload's `requested_discount_pct`, null when the shopper named none)."""
        mode = self.settings.desk_handoff_discount
        if mode == "off":
            return None
        for r in replies:
            custom = _custom(r)
            if custom.get("type") != "discount":
                continue
            asked = _percent(custom.get("requested_discount_pct"))
            limit = _percent(custom.get("max_agent_discount_pct")) or 0.0
            if mode == "any" or (asked is not None and asked > limit):
                return {"type": "handoff", "reason": "discount",
                        "requested_discount_pct": asked}
        return None

    # -- what the shopper is told ----------------------------------------------------------
    async def _push_shopper_messages(self, cid: str, msgs: list[dict]) -> None:
        for m in msgs:
            await self.hub.to_shopper(cid, {"type": "message", "message": m})

    async def _notice(self, cid: str, text_: str, custom: dict,
                      reply_to: Optional[int] = None) -> list[dict]:
        """A system message for the shopper: stored (committed) first, then pushed to
        their sockets; returns it stored, in a list. Every notice of the desk (holding,
        handoff, queued, agent joined, offline, contact ack, resolved) goes through here."""
        msgs = await self.store.conversations.add_messages(
            cid, "system", [{"text": text_, "custom": custom}], reply_to)
        await self._push_shopper_messages(cid, msgs)
        return msgs

    # -- the shopper's side ----------------------------------------------------------------
    def verified_customer(self, customer_id: Any, signature: Any) -> Optional[str]:
        """The customer id when the storefront signed it with the shop's secret, else None:
        a bare claim is an anonymous shopper (bot/shop_identity.py)."""
        return verified_customer(customer_id, signature, self.shop_secret)

    def rasa_metadata(self, conv: dict, metadata: Optional[dict] = None) -> dict:
        """The metadata Rasa gets with a message; a verified customer travels with its
        signature, which the actions check themselves."""
        out = self.rasa.metadata(conv, metadata)
        if out.get("customer_id"):
            out["customer_sig"] = sign_customer(out["customer_id"], self.shop_secret)
        return out

    async def create_conversation(self, locale: str, page: dict, customer_id: Any = None,
                                  customer_sig: Any = None) -> tuple[dict, str]:
        """A new conversation with the bot: (conversation, shopper token). Only a signed
        customer id is kept."""
        return await self.store.conversations.create(
            locale, page, self.verified_customer(customer_id, customer_sig))

    async def authorize_shopper(self, cid: str, token: str) -> dict:
        return await self.store.conversations.authorize(cid, token)

    async def conversation_view(self, conv: dict) -> dict:
        """What the shopper may know of their conversation: state, owner, queue place."""
        agent = queue = None
        if conv["state"] == "assigned" and conv["agent_id"]:
            a = await self.store.accounts.agent(conv["agent_id"])
            agent = {"display_name": a["display_name"]} if a else None
        if conv["state"] == "queued":
            est = await self.queue_notifier.estimate(conv["conversation_id"])
            queue = queue_payload(est) if est else None
        view = {"conversation_id": conv["conversation_id"], "state": conv["state"],
                "locale": conv["locale"], "agent": agent, "queue": queue}
        if conv["state"] == "resolved":
            view["rating_open"] = await self.store.conversations.rating_open(
                conv["conversation_id"])
        return view

    async def history(self, cid: str, after: int = 0) -> list[dict]:
        return await self.store.conversations.history(cid, after)

    async def desk_status(self, locale: Optional[str]) -> dict:
        counts = await self.store.conversations.status_counts(locale)
        return {"open": self.is_open(), "hours": self.hours.text, **counts}

    async def shopper_status(self, conv: dict) -> dict:
        """The `status` event a shopper's socket gets on connect."""
        status: dict = {"type": "status", "state": conv["state"]}
        if conv["state"] == "queued":
            est = await self.queue_notifier.estimate(conv["conversation_id"])
            if est is not None:
                status["queue"] = queue_payload(est)
                status["text"] = queued_text(conv["locale"], est)
        elif conv["state"] == "resolved":
            status["rating_open"] = await self.store.conversations.rating_open(
                conv["conversation_id"])
        return status

    async def shopper_typing(self, cid: str, on: bool) -> None:
        """The shopper types: shown to the owner."""
        current = await self.store.conversations.get(cid)
        if current and current["state"] == "assigned":
            await self.hub.to_agent(current["agent_id"], {
                "type": "typing", "conversation_id": cid, "on": on})

    async def shopper_message(self, conversation: dict, text_: str,
                              client_id: Optional[str], metadata: dict) -> dict:
        """Store a shopper message, then answer it (bot) or route it (human); see the API
        doc for the answer's shape.

        The message is committed first; its turn (the bot's answer, or the owner's
        notice and the drafts) runs as a task of its own, after the turns of the
        conversation's earlier messages, so one conversation's messages are answered in
        order and an answer is produced even if the shopper's request goes away. The
        same client_id again gives the answer that exists, or waits for the one being
        produced (`_turns`), never an empty list for a message still unanswered."""
        cid = conversation["conversation_id"]
        metadata = self._verified_metadata(metadata)
        conversations = self.store.conversations
        async with self._lock(cid):                # store and queue the turn, in order
            # this replica answers the conversation from before the message is stored
            # until its turn is done (desk/coordination.py)
            await self.coordination.hold(cid)
            turn = None
            try:
                stored = await conversations.add_shopper_message(cid, text_, client_id,
                                                                 metadata)
                msg = stored["message"]
                if stored["duplicate"]:
                    found = self._turns.get(msg["id"])
                    if found is None and msg["id"] in {m["id"] for m in await conversations
                                                       .left_unanswered(conversation_id=cid)}:
                        # sent again, never answered (the replica that stored it died):
                        # with the lease held here, nobody else is answering it
                        found = turn = self._queue_turn(cid, msg, metadata)
                else:
                    for ev in stored["events"]:
                        await self._on_event(cid, ev)
                    found = turn = self._queue_turn(cid, msg, metadata)
            finally:
                if turn is None:                   # no turn of its own to hand it to
                    self.coordination.release(cid)
            turn = found
        if turn is not None:
            replies = await asyncio.shield(turn)
        else:
            replies = await conversations.replies_to(msg["id"])
        return await self._answer(cid, msg, replies)

    def _verified_metadata(self, metadata: dict) -> dict:
        """A message's metadata with its customer claim kept only when signed."""
        out = {k: v for k, v in metadata.items() if k not in ("customer_id", "customer_sig")}
        customer = self.verified_customer(metadata.get("customer_id"),
                                          metadata.get("customer_sig"))
        if customer:
            out["customer_id"] = customer
        return out

    def _queue_turn(self, cid: str, msg: dict, metadata: dict,
                    stale: bool = False) -> asyncio.Task:
        """The turn of a stored shopper message, run after the conversation's previous
        one; registered under the message's id until it is done. The caller holds the
        conversation's lease for it (`coordination.hold`); the turn releases it when it
        is done. `stale`: taken up older than the hold window (`take_up`)."""
        return self._chain(cid, msg, self._turn_after(self._last_turn.get(cid), cid, msg,
                                                      metadata, stale))

    def _chain(self, cid: str, msg: dict, coro) -> asyncio.Task:
        task = self.spawn(coro)
        self._turns[msg["id"]] = task
        self._last_turn[cid] = task

        def done(t: asyncio.Task) -> None:
            self._turns.pop(msg["id"], None)
            if self._last_turn.get(cid) is t:
                del self._last_turn[cid]
            self.coordination.release(cid)
            if not t.cancelled() and isinstance(t.exception(), DatabaseUnavailable):
                self._taken_up.discard(msg["id"])     # not dealt with: the sweep again

        task.add_done_callback(done)
        return task

    async def _turn_after(self, before: Optional[asyncio.Task], cid: str, msg: dict,
                          metadata: dict, stale: bool) -> list[dict]:
        if before is not None:
            await asyncio.wait({before})           # its outcome is its own
        return await self._turn(cid, msg, metadata, stale)

    async def _turn(self, cid: str, msg: dict, metadata: dict,
                    stale: bool = False) -> list[dict]:
        """A shopper message's way, in the conversation's state now (the turns before it
        may have handed it over): with the bot, the bot answers (a `stale` one is handed
        over as a Rasa failure that outlasted the hold window would be); queued, the
        assistant answers a routine question and the shopper is reminded of their place;
        owned, the owner is told and drafted for. Returns the replies for the shopper."""
        conv = await self.store.conversations.get(cid)
        if conv["state"] == "bot":
            if stale:
                return await self._give_up(cid, msg)
            return await self._bot_turn(conv, msg, metadata)
        summary = await self.store.conversations.summary(cid)
        await self.hub.to_agent_and_supervisors(
            conv["agent_id"], {"type": "message", "conversation_id": cid, "message": msg,
                               "conversation": summary})
        if conv["state"] == "queued":
            replies = await self._queued_turn(conv, msg, metadata)
            await self.queue_notifier.push()
            return replies
        await self._draft_later(conv, msg, metadata)
        return []

    async def _answer(self, cid: str, msg: dict, replies: list[dict]) -> dict:
        conv = await self.store.conversations.get(cid)
        out = {"message": msg, "replies": replies, "state": conv["state"]}
        if conv["state"] == "queued":
            est = await self.queue_notifier.estimate(cid)
            out["queue"] = queue_payload(est) if est else None
        return out

    async def recover(self) -> int:
        """On start: shopper messages a previous run stored but never dealt with
        (store: `left_unanswered`) get their turn now (`take_up`). Returns how many."""
        pending = await self.store.conversations.left_unanswered()
        found = await self.take_up(pending)
        if found:
            logger.info("answering %d shopper messages left unanswered by the last run",
                        found)
        return found

    async def sweep(self) -> int:
        """On the leader's timer: shopper messages seen unanswered (stored within the
        last `SWEEP_HORIZON`) for `desk_lease_s` or more, in a conversation nobody holds
        the lease of (the replica that stored them died, or their turn failed), get their
        turn here (`take_up`). The time is this replica's own (a message's first sighting),
        not the message's timestamp: replicas' clocks need not agree. Each message is
        taken up at most once by this replica while it stays unanswered (a turn that
        found the database unavailable is tried again). Returns how many."""
        pending = await self.store.conversations.left_unanswered(
            newer_than=self.now() - SWEEP_HORIZON)
        now = time.monotonic()
        self._pending_since = {m["id"]: self._pending_since.get(m["id"], now)
                               for m in pending}
        found = await self.take_up(
            [m for m in pending
             if now - self._pending_since[m["id"]] >= self.settings.desk_lease_s],
            still_pending=pending)
        if found:
            logger.info("answering %d shopper messages stranded for %g s or more",
                        found, self.settings.desk_lease_s)
        return found

    async def take_up(self, messages: list[dict],
                      still_pending: Optional[list[dict]] = None) -> int:
        """Turns for these shopper messages left unanswered, conversation by
        conversation, each only if its lease is free now (else its holder is answering
        it; the sweep looks again later). With the lease taken, what is left unanswered
        there is read again (whatever is, is stranded: a replica answering a conversation
        holds its lease from before it stores a message until the message's turn is
        done) and each message gets its turn, in order, in the state its conversation is
        in then: with the bot, answered, or, older than the hold window, handed over as a
        Rasa failure that outlasted it would be; queued, the assistant's turn and the
        reminder, whatever their age (the shopper still waits for a person, and an
        answer late is better than none); owned, drafted for the owner.
        `still_pending`: every message left unanswered now (default `messages`); those
        taken up before and no longer among them are forgotten. Returns how many."""
        self._taken_up &= {m["id"] for m in (messages if still_pending is None
                                             else still_pending)}
        cids = list(dict.fromkeys(m["conversation_id"] for m in messages
                                  if m["id"] not in self._taken_up))
        found = 0
        for cid in cids:
            if not self.coordination.held(cid):             # else this replica answers it
                found += await self._take_up(cid)
        return found

    async def _take_up(self, cid: str) -> int:
        hold = timedelta(seconds=self.settings.desk_rasa_hold_s)
        async with self._lock(cid):
            if not await self.coordination.hold(cid, wait=False):
                return 0
            try:
                pending = await self.store.conversations.left_unanswered(
                    conversation_id=cid)
                now = self.now()
                found = 0
                for msg in pending:
                    if msg["id"] in self._turns or msg["id"] in self._taken_up:
                        continue
                    self._taken_up.add(msg["id"])
                    stale = now - datetime.fromisoformat(msg["created_at"]) > hold
                    await self.coordination.hold(cid)     # the turn's own
                    self._queue_turn(cid, msg, {}, stale=stale)
                    found += 1
                return found
            finally:
                self.coordination.release(cid)

    async def _give_up(self, cid: str, msg: dict) -> list[dict]:
        """The bot could not answer within the hold window: the holding reply, then a
        person (a Rasa failure queues at any hour)."""
        conv = await self.store.conversations.get(cid)
        if conv["state"] != "bot":
            return []
        told = await self._notice(cid, TEXTS.render("holding", conv["locale"]),
                                  {"type": "handoff", "reason": "rasa_unavailable"},
                                  msg["id"])
        return told + await self.handoff(cid, "rasa_unavailable", reply_to=msg["id"])

    def _rasa_lock(self, conversation_id: str) -> asyncio.Lock:
        """Held for each call to Rasa about one of the conversation's messages (its turn's,
        or a draft's): Rasa gets them one at a time, in the order they came."""
        lock = self._rasa_order.get(conversation_id)
        if lock is None:
            lock = self._rasa_order[conversation_id] = asyncio.Lock()
        return lock

    async def _ask_bot(self, conv: dict, msg: dict, metadata: dict) -> list[dict]:
        """The bot's replies: the call waits for the conversation's earlier calls
        (`_rasa_lock`), then its turn at Rasa's gate, and is held while Rasa is down
        (desk/rasa_client.py); when no answer has come after `desk_wait_notice_s`, the
        shopper is told "one moment" once (stored as a reply to the message, so it is in
        the POST's answer too: `self._waiting[msg id]`). RasaUnavailable when Rasa stayed
        down for the whole hold window."""
        cid, settings = conv["conversation_id"], self.settings

        async def in_order() -> list[dict]:
            async with self._rasa_lock(cid):
                replies = await self.rasa.answer(cid, msg["text"],
                                                 self.rasa_metadata(conv, metadata),
                                                 hold_s=settings.desk_rasa_hold_s)
                await self._read_parse(cid, msg)     # before the next call about it
                return replies

        call = asyncio.ensure_future(in_order())
        try:
            done, _ = await asyncio.wait({call}, timeout=settings.desk_wait_notice_s)
            if not done and cid not in self._waiting_told:
                self._waiting_told.add(cid)
                self._waiting[msg["id"]] = await self._notice(
                    cid, TEXTS.render("one_moment", conv["locale"]), {"type": "waiting"},
                    msg["id"])
            return await call
        finally:
            if not call.done():
                call.cancel()

    async def _bot_reply(self, conv: dict, msg: dict,
                         metadata: dict) -> tuple[list[dict], Optional[list[dict]]]:
        """The bot asked about a shopper message (`_ask_bot`), the bot's typing shown
        meanwhile: (the "one moment" notice when the shopper was given one, the replies,
        or None when Rasa stayed down for the whole hold window)."""
        cid = conv["conversation_id"]
        replies: Optional[list[dict]] = None
        await self.hub.to_shopper(cid, {"type": "typing", "sender": "bot", "on": True})
        try:
            replies = await self._ask_bot(conv, msg, metadata)
        except RasaUnavailable as exc:
            logger.warning("Rasa unavailable for %s for the whole hold window: %s", cid, exc)
        finally:
            if self._last_turn.get(cid) is asyncio.current_task():
                self._waiting_told.discard(cid)     # no later message waits behind it
            waited = self._waiting.pop(msg["id"], [])
            await self.hub.to_shopper(cid, {"type": "typing", "sender": "bot", "on": False})
        return waited, replies

    async def _queued_turn(self, conv: dict, msg: dict, metadata: dict) -> list[dict]:
        """A queued shopper writes: the bot answers a routine question itself (stored as
        the bot's, only while the conversation is still queued), and the shopper is
        reminded of their place either way: after the assistant's answer, as a question
        kept for the agent (its drafts wait for them), or, when they asked for a person or
        complained again, that they already are in the queue. The bot is asked as in the
        bot's own turn (`_bot_reply`: in line, held while Rasa is down, "one moment"
        after `desk_wait_notice_s`); when Rasa stays down for the whole hold window the
        question is kept for the agent, with no handoff (a person is already coming).
        Returns what the shopper is told now."""
        cid, lang = conv["conversation_id"], conv["locale"]
        waited, replies = await self._bot_reply(conv, msg, metadata)
        if replies is None:
            replies = []
        shown: list[dict] = []
        # a guess is not answered while a person is coming ("快点" read as a question about
        # an order at 0.39): only a message the bot understood (as the review list counts
        # it) gets the assistant's answer; the rest waits for the agent as a draft
        parse = self.parse_cache.get(cid)
        understood = parse is None or not not_understood(
            parse, self.settings.desk_review_below_confidence)
        if understood and any(answers_while_queued(r) for r in replies):
            shown = await self.store.conversations.add_messages(
                cid, "bot", [r for r in replies
                             if _custom(r).get("type") in WITH_ROUTINE_ANSWERS],
                msg["id"], only_in_state="queued")
            await self._push_shopper_messages(cid, shown)
        if not shown:
            await self._store_suggestions(cid, msg, replies)
        est = await self.queue_notifier.estimate(cid)
        if est is None:                 # an agent took it meanwhile: they answer now
            return waited + shown
        asked = any(_custom(r).get("type") == "handoff" for r in replies)
        key = "queue_answered" if shown else "queue_already" if asked else "queue_noted"
        return waited + shown + await self._notice(
            cid, queued_text(lang, est, key),
            {"type": "queued", **queue_payload(est), "reminder": key[len("queue_"):]},
            msg["id"])

    async def _bot_turn(self, conv: dict, msg: dict, metadata: dict) -> list[dict]:
        cid, lang = conv["conversation_id"], conv["locale"]
        limit = self.settings.desk_handoff_cart_above
        if limit and self.cart_value(conv.get("cart")) > limit and self.is_open():
            # a big order: a person takes it now; the bot's answer drafts the first reply
            told = await self._notice(cid, TEXTS.render("handoff", lang),
                                      {"type": "handoff", "reason": "cart_value"}, msg["id"])
            more = await self.handoff(cid, "cart_value", reply_to=msg["id"])
            await self._draft_later(conv, msg, metadata)
            return told + more
        waited, replies = await self._bot_reply(conv, msg, metadata)
        if replies is None:
            return waited + await self._give_up(cid, msg)
        return waited + await self._bot_replies(conv, msg, replies)

    async def _bot_replies(self, conv: dict, msg: dict, replies: list[dict]) -> list[dict]:
        """What the bot's answer becomes: the shopper's replies, and a handoff when the
        bot or the desk's rules ask for one."""
        cid, lang = conv["conversation_id"], conv["locale"]
        reason = next((_custom(r).get("reason") or "requested" for r in replies
                       if _custom(r).get("type") == "handoff"), None)
        is_open = self.is_open()
        rule = None if reason or not is_open else self.rule_handoff(replies)
        conversations = self.store.conversations
        if reason and not is_open:
            # nobody to hand to: say when the team is in and offer the contact form
            shown = [r for r in replies if _custom(r).get("type") != "handoff"]
            bot_msgs = await conversations.add_messages(cid, "bot", shown, msg["id"])
            await self._push_shopper_messages(cid, bot_msgs)
            return bot_msgs + await self._notice(
                cid, TEXTS.render("offline", lang, hours=self.hours.text),
                {"type": "offline", "hours": self.hours.text, "reason": reason,
                 "contact_form": True}, msg["id"])
        if rule:
            # the bot's answer goes to the agent as a draft, the shopper hears a person comes
            told = await self._notice(cid, TEXTS.render("handoff", lang), rule, msg["id"])
            more = await self.handoff(cid, rule["reason"], reply_to=msg["id"],
                                      requested_discount_pct=rule["requested_discount_pct"])
            await self._store_suggestions(cid, msg, replies)
            return told + more
        bot_msgs = await conversations.add_messages(cid, "bot", replies, msg["id"])
        await self._push_shopper_messages(cid, bot_msgs)
        if reason:
            bot_msgs += await self.handoff(cid, reason, reply_to=msg["id"])
        return bot_msgs

    async def leave_contact(self, conv: dict, contact: str, text_: str) -> dict:
        conversations = self.store.conversations
        cid = conv["conversation_id"]
        async with self._lock(cid):
            res = await conversations.leave_contact(cid, contact, text_, conv["locale"])
            told = await self._notice(cid, TEXTS.render("contact_ack", conv["locale"]),
                                      {"type": "contact_ack"}, res["message"]["id"])
        conv_now = await conversations.get(cid)
        if conv_now["agent_id"]:
            await self.hub.to_agent(conv_now["agent_id"], {
                "type": "message", "conversation_id": cid, "message": res["message"]})
        await self.after_assignments(res["assigned"])
        return {"message": res["message"], "replies": told, "state": conv_now["state"]}

    # -- handoff, assignment, queue --------------------------------------------------------
    async def handoff(self, cid: str, reason: str, reply_to: Optional[int] = None,
                      requested_discount_pct: Optional[float] = None) -> list[dict]:
        """Queue a bot conversation for a human; returns the system messages it produced
        for the shopper (queued or agent joined)."""
        res = await self.store.conversations.handoff(
            cid, reason, requested_discount_pct=requested_discount_pct, message_id=reply_to)
        if not res["changed"]:
            return []
        if reply_to is not None:
            await self._enter_review(reply_to, "before_handoff")
        out: list[dict] = []
        mine = False
        for other, agent_id in res["assigned"]:
            msgs = await self.on_assigned(other, agent_id,
                                          reply_to=reply_to if other == cid else None)
            if other == cid:
                mine, out = True, msgs
        if not mine:
            est = await self.queue_notifier.estimate(cid)
            conv = await self.store.conversations.get(cid)
            if est is not None:
                out = await self._notice(cid, queued_text(conv["locale"], est),
                                         {"type": "queued", **queue_payload(est)}, reply_to)
                await self.queue_notifier.queued(cid, est, conv["locale"])
        await self.queue_notifier.push()
        return out

    async def on_assigned(self, cid: str, agent_id: int,
                          reply_to: Optional[int] = None) -> list[dict]:
        """An agent took a conversation: tell the shopper and the agent."""
        agent = await self.store.accounts.agent(agent_id)
        conv = await self.store.conversations.get(cid)
        name = agent["display_name"]
        await self.queue_notifier.left(cid)
        msgs = await self._notice(
            cid, TEXTS.render("agent_joined", conv["locale"], agent_name=name),
            {"type": "agent_joined", "agent_name": name}, reply_to)
        await self.hub.to_shopper(cid, {"type": "status", "state": "assigned",
                                        "agent_name": name})
        summary = await self.store.conversations.summary(cid)
        await self.hub.to_agent_and_supervisors(agent_id, {"type": "assigned",
                                                           "conversation": summary})
        return msgs

    async def after_assignments(self, assigned: list[tuple[str, int]]) -> None:
        for cid, agent_id in assigned:
            await self.on_assigned(cid, agent_id)
        await self.queue_notifier.push()

    async def _on_event(self, cid: str, ev: dict) -> None:
        if ev["type"] == "reopened":
            summary = await self.store.conversations.summary(cid)
            await self.hub.to_shopper(cid, {"type": "status", "state": "assigned",
                                            "agent_name": summary["agent_name"]})
            await self.hub.to_agent_and_supervisors(ev["agent_id"], {
                "type": "conversation", "conversation": summary})
        elif ev["type"] == "assigned":
            await self.on_assigned(ev["conversation_id"], ev["agent_id"])
        elif ev["type"] in ("queued", "restarted"):
            await self.hub.to_shopper(cid, {"type": "status", "state":
                                            "queued" if ev["type"] == "queued" else "bot"})
            await self.queue_notifier.push()

    # -- suggestions -----------------------------------------------------------------------
    async def _draft_later(self, conv: dict, msg: dict, metadata: dict) -> None:
        """Drafts for a message of an owned conversation, in a task of their own that
        keeps the conversation's lease until they are stored (part of the turn)."""
        cid = conv["conversation_id"]
        await self.coordination.hold(cid)          # joins the turn's hold
        task = self.spawn(self._suggest(conv, msg, metadata))
        task.add_done_callback(lambda _t: self.coordination.release(cid))

    async def _suggest(self, conv: dict, msg: dict, metadata: dict) -> None:
        """Drafts for one shopper message of an owned conversation. One conversation's
        messages go to Rasa one after the other, in the order they came (`_rasa_lock`:
        Rasa's tracker, and so each draft's context, follows the conversation)."""
        cid = conv["conversation_id"]
        async with self._rasa_lock(cid):
            try:
                replies = await self.rasa.send(cid, msg["text"],
                                               self.rasa_metadata(conv, metadata))
            except RasaUnavailable as exc:
                logger.info("no suggestions for %s: %s", cid, exc)
                return
            await self._read_parse(cid, msg)
            await self._store_suggestions(cid, msg, replies)

    async def _store_suggestions(self, cid: str, msg: dict, replies: list[dict]) -> None:
        items = []
        for r in replies:
            custom = factcheck.complete_payload(_custom(r)) or None
            ctype = (custom or {}).get("type")
            if ctype == "handoff" or not (r.get("text") or custom):
                continue
            items.append({"kind": "crosssell" if ctype == "recommendations" else "answer",
                          "text": str(r.get("text") or ""), "buttons": r.get("buttons"),
                          "custom": custom, "facts": factcheck.facts_of(custom)})
        if not items:
            return
        stored = await self.store.suggestions.add(cid, msg["id"], items)
        conv = await self.store.conversations.get(cid)
        if conv and conv["state"] == "assigned":
            await self.hub.to_agent(conv["agent_id"], {
                "type": "suggestions", "conversation_id": cid, "message_id": msg["id"],
                "suggestions": stored})

    def fact_changes(self, suggestion: dict) -> list[dict]:
        try:
            return factcheck.changes(self.catalog, suggestion.get("facts") or {}, self.now())
        except CatalogError as exc:
            return [{"field": "catalog", "kind": "catalog", "old": None, "new": str(exc)}]

    def fact_conflict(self, suggestion: dict, conv: dict, lang: str) -> Optional[dict]:
        """What the agent is told when a draft's facts changed since it was drafted (None
        when none did): each change in words in `lang`, the draft re-rendered with the new
        figures where that is possible, and the choices (docs/desk-api.md)."""
        changes = self.fact_changes(suggestion)
        if not changes:
            return None
        try:
            for ch in changes:
                ch["text"] = factcheck.explain(self.catalog, ch, lang)
            redrafted = factcheck.redraft(self.catalog, suggestion, changes,
                                          conv["locale"], self.now())
        except CatalogError as exc:
            logger.error("catalog error while explaining changes: %s", exc)
            redrafted = None
        choices = ["send_anyway"] + (["use_new"] if redrafted else []) + ["cancel"]
        return {"reason": "facts_changed", "lang": lang, "changes": changes,
                "redrafted": redrafted,
                "choices": [{"action": c, "label": TEXTS.render(f"fact_choice_{c}", lang)}
                            for c in choices]}

    # -- the agent's side ------------------------------------------------------------------
    async def login(self, username: str, password: str, hours: int,
                    address: str = "") -> tuple[dict, str, str]:
        """(agent, session cookie value, CSRF token); 401 for a wrong name or password,
        429 "try again in N s" when the address or the account is throttled or locked
        (desk/login_limit.py: a refused attempt costs no password check)."""
        accounts, limiter = self.store.accounts, self.login_limiter
        account = username.casefold()
        wait = await limiter.admit(account, address)
        if wait:
            seconds = math.ceil(wait)
            raise DeskError(f"too many log-in attempts; try again in {seconds} s", 429,
                            retry_after_s=seconds)
        agent = await accounts.authenticate(username, password)
        if agent is None:
            locked = math.ceil(await limiter.failed(account, address))
            if locked:
                raise DeskError(f"wrong username or password; too many failures, try "
                                f"again in {locked} s", 401, retry_after_s=locked)
            raise DeskError("wrong username or password", 401)
        await limiter.succeeded(account, address)
        sid, csrf = await accounts.create_session(agent["agent_id"], hours)
        return agent, sid, csrf

    async def logout(self, sid: str) -> None:
        """The session ends, and its agent is away (a closed console takes nothing new)."""
        found = await self.store.accounts.session(sid)
        await self.store.accounts.delete_session(sid)
        if found is not None:
            await self.set_status(found[0], "away")

    async def session(self, sid: str) -> Optional[tuple[dict, str]]:
        """(agent, CSRF token) of a session cookie, or None."""
        return await self.store.accounts.session(sid) if sid else None

    async def agent_connected(self, agent: dict) -> dict:
        """An agent's console opened its socket: a sign of life (an agent who chose online
        is present again), and the `hello` event it gets."""
        (agent,) = await self.store.accounts.seen([agent["agent_id"]]) or [agent]
        return {"type": "hello", "agent": agent,
                "queue": await self.store.conversations.queue()}

    async def agent_heartbeat(self, agent: dict) -> dict:
        """The console's heartbeat (`{"type": "heartbeat"}` on the agent socket): the agent
        was seen now. Answered with their presence, so a console that was marked away
        (e.g. after a network gap longer than the grace period) knows it."""
        seen = await self.store.accounts.seen([agent["agent_id"]])
        now = seen[0] if seen else agent
        return {"type": "heartbeat", "status": now["status"],
                "last_seen_at": now.get("last_seen_at")}

    async def _presence_changed(self, agent: dict, reason: str) -> None:
        """Tell the agent's consoles and the supervisors that an agent's presence changed
        (went away for `reason` "no_heartbeat" or "chosen", or came online)."""
        event = {"type": "presence", "agent": agent, "reason": reason}
        await self.hub.to_agent_and_supervisors(agent["agent_id"], event)

    async def agent_typing(self, agent: dict, cid: str, on: bool) -> None:
        """The owner types: shown to the shopper."""
        conv = await self.store.conversations.get(cid)
        if conv and conv["agent_id"] == agent["agent_id"] and conv["state"] == "assigned":
            await self.hub.to_shopper(cid, {"type": "typing", "sender": "agent", "on": on})

    async def agents(self, conversation_id: Optional[str] = None) -> list[dict]:
        """Every agent with their load and presence; each says whether they can take one
        more conversation (`can_take`, else `why_not`: away, at_cap, daily_cap, and with
        a conversation, language). With a conversation: who qualifies to be given it."""
        language = None
        owner = None
        if conversation_id:
            conv = await self.store.conversations.get(conversation_id)
            if conv is None:
                raise NotFound("no such conversation")
            language, owner = conv["locale"], conv["agent_id"]
        out = []
        for a in await self.store.accounts.agents():
            why = "owner" if owner is not None and a["agent_id"] == owner \
                else routing.why_not(a, language)
            out.append({**a, "can_take": why is None, "why_not": why})
        return out

    async def set_caps(self, agent_id: int, cap: Optional[int],
                       daily_cap: Optional[int]) -> dict:
        """A supervisor sets an agent's caps; a raised cap drains the queue into it."""
        assigned = await self.store.accounts.set_caps(agent_id, cap, daily_cap)
        await self.after_assignments(assigned)
        agent = await self.store.accounts.agent(agent_id)
        await self.hub.to_agent_and_supervisors(agent_id, {"type": "presence",
                                                           "agent": agent, "reason": "caps"})
        return agent

    async def canned(self, locale: Optional[str], query: str = "") -> list[dict]:
        return await self.store.accounts.canned(locale, query)

    async def metrics(self, first: str, last: Optional[str] = None) -> dict:
        """The figures of a shop-local day, or of the days first..last (desk/metrics.py)."""
        records = await self.store.metrics.records(first, last or first)
        return metrics.compute(records, await asyncio.get_running_loop().run_in_executor(
            None, self._catalog_outcomes, records))

    def _catalog_outcomes(self, records) -> metrics.CatalogOutcomes:
        """What the catalog says happened after the conversations: orders by handed-off
        customers within the conversion window, and the cross-sell funnel."""
        return metrics.catalog_outcomes(self.catalog, records)

    async def agent_lists(self, agent: dict) -> dict:
        """An agent's conversations and the queue, longest waiting first; a supervisor also
        sees every owned conversation (to reassign when an owner cannot go on)."""
        conversations = self.store.conversations
        body = {"mine": await self.decorate(await conversations.mine(agent["agent_id"])),
                "queue": await self.decorate(await conversations.queue())}
        if agent["role"] == "supervisor":
            body["assigned"] = await self.decorate(await conversations.assigned())
        return body

    async def decorate(self, summaries: list[dict]) -> list[dict]:
        """What the catalog adds to the console's rows: the product's name (in the
        conversation's language) and, when the conversation named no city, the city of
        the customer's latest order."""
        return await asyncio.get_running_loop().run_in_executor(
            None, lambda: [self._decorated(s) for s in summaries])

    def _decorated(self, summary: dict) -> dict:
        out = dict(summary)
        out["product_name"] = None
        try:
            product = self.catalog.product(summary.get("product_id"))
            if product is not None:
                out["product_name"] = product.name(summary["locale"])
            if not out.get("city") and summary.get("customer_id"):
                orders = self.catalog.orders_of_customer(summary["customer_id"], limit=1)
                out["city"] = orders[0].city if orders else None
        except CatalogError as exc:
            logger.warning("catalog unavailable for a summary: %s", exc)
        return out

    async def conversation_for_agent(self, agent: dict, cid: str) -> dict:
        """A conversation the agent may open: their own, or any for a supervisor."""
        conv = await self.store.conversations.get(cid)
        if conv is None:
            raise NotFound("no such conversation")
        if agent["role"] != "supervisor" and conv["agent_id"] != agent["agent_id"]:
            raise Forbidden("not your conversation")
        return conv

    async def conversation_detail(self, conv: dict, agent: dict) -> dict:
        """The whole conversation for the console; opened by its owner, it counts as
        read. `pending` holds every shopper message since the agent's last reply that is
        still unanswered, each with its undecided drafts."""
        cid = conv["conversation_id"]
        conversations = self.store.conversations
        if conv["agent_id"] == agent["agent_id"]:
            await conversations.mark_read(cid)
        suggestions = await self.store.suggestions.of_conversation(cid)
        pending = [{"message": m, "suggestions": [
            s for s in suggestions if s["message_id"] == m["id"] and s["outcome"] is None]}
            for m in await conversations.unanswered(cid)]
        (summary,) = await self.decorate([await conversations.summary(cid)])
        return {"conversation": summary,
                "messages": await conversations.history(cid),
                "context": await self.context(conv),
                "suggestions": suggestions, "pending": pending,
                "notes": await conversations.notes(cid),
                "assignments": await conversations.ownership_log(cid)}

    async def mark_read(self, conv: dict, agent: dict, upto: Optional[int]) -> dict:
        if conv["agent_id"] == agent["agent_id"]:
            await self.store.conversations.mark_read(conv["conversation_id"], upto)
        return await self.store.conversations.summary(conv["conversation_id"])

    async def add_note(self, conv: dict, agent: dict, text_: str) -> dict:
        """A private note (agents only): to the owner's and the supervisors' consoles,
        never to the shopper."""
        note = await self.store.conversations.add_note(conv["conversation_id"], agent, text_)
        await self.hub.to_agent_and_supervisors(conv["agent_id"], {
            "type": "note", "conversation_id": conv["conversation_id"], "note": note})
        return note

    async def set_labels(self, conv: dict, labels: list[str]) -> dict:
        await self.store.conversations.set_labels(conv["conversation_id"], labels)
        summary = await self.store.conversations.summary(conv["conversation_id"])
        await self.hub.to_agent_and_supervisors(conv["agent_id"], {
            "type": "conversation", "conversation": summary})
        return summary

    async def agent_send(self, conv: dict, agent: dict, text_: str,
                         suggestion_id: Optional[int] = None, confirm: bool = False,
                         use_new: bool = False, lang: Optional[str] = None) -> dict:
        """The owner writes to the shopper, from scratch or from a suggestion (its text
        when `text_` is blank). A suggestion whose facts changed since it was drafted is
        refused (409: the changes in words, the draft re-rendered with the new figures
        where possible, the choices) unless `confirm` (send anyway) or `use_new` (send
        the re-rendered draft). Stored, then pushed."""
        cid = conv["conversation_id"]
        lang = lang if lang in ("zh", "en") else (agent.get("languages") or ["zh"])[0]
        custom = None
        if suggestion_id is not None:
            suggestion = await self.store.suggestions.get(suggestion_id)
            if suggestion is None or suggestion["conversation_id"] != cid:
                raise NotFound("no such suggestion in this conversation")
            if not text_.strip():
                text_ = suggestion["text"]
            if not confirm:
                conflict = await asyncio.get_running_loop().run_in_executor(
                    None, self.fact_conflict, suggestion, conv, lang)
                if conflict and use_new and conflict["redrafted"]:
                    text_, custom = (conflict["redrafted"]["text"],
                                     conflict["redrafted"]["custom"])
                elif conflict:
                    raise Conflict("the catalog changed since this suggestion was drafted",
                                   **conflict)
        res = await self.store.conversations.agent_message(
            cid, agent, text_, suggestion_id, redrafted_custom=custom)
        await self.hub.to_shopper(cid, {"type": "message", "message": res["message"]})
        out = {"message": res["message"]}
        if res["suggestion"]:
            out["suggestion"] = res["suggestion"]
            if res["suggestion"]["outcome"] == "edited":
                await self._enter_review(res["suggestion"]["message_id"], "draft_edited")
        return out

    async def skip_suggestion(self, suggestion_id: int, agent: dict) -> dict:
        skipped = await self.store.suggestions.skip(suggestion_id, agent)
        await self._enter_review(skipped["message_id"], "draft_skipped")
        return skipped

    async def resolve(self, cid: str, agent: dict, confirm: bool = False,
                      lang: Optional[str] = None) -> dict:
        """Resolve (owner or supervisor). While the shopper's last message has no answer,
        409 (`reason` "unanswered", the message, and what it means in `lang`) unless
        `confirm`. The shopper is told and asked for a rating; the queue drains."""
        conversations = self.store.conversations
        try:
            assigned = await conversations.resolve(cid, agent, confirm=confirm)
        except Conflict as exc:
            if exc.extra.get("reason") == "unanswered":
                lang = lang if lang in ("zh", "en") else (agent.get("languages") or ["zh"])[0]
                exc.extra["text"] = TEXTS.render("resolve_unanswered", lang,
                                                 text=exc.extra["shopper_message"]["text"][:80])
            raise
        conv = await conversations.get(cid)
        await self._notice(cid, TEXTS.render("resolved", conv["locale"]),
                           {"type": "resolved", "rating": True})
        await self.hub.to_shopper(cid, {"type": "status", "state": "resolved",
                                        "rating_open": True})
        summary = await conversations.summary(cid)
        await self.hub.to_agent_and_supervisors(conv["agent_id"], {"type": "conversation",
                                                                   "conversation": summary})
        await self.after_assignments(assigned)
        return summary

    async def rate(self, conv: dict, score: int, comment: Optional[str]) -> dict:
        """The shopper rates the cycle just resolved (once per resolution)."""
        rating = await self.store.conversations.rate(conv["conversation_id"], score, comment)
        summary = await self.store.conversations.summary(conv["conversation_id"])
        await self.hub.to_agent_and_supervisors(summary["agent_id"], {
            "type": "rating", "conversation_id": conv["conversation_id"], "rating": rating})
        return rating

    async def set_status(self, agent: dict, status: str) -> dict:
        assigned = await self.store.accounts.set_status(agent["agent_id"], status)
        now = await self.store.accounts.agent(agent["agent_id"])
        await self._presence_changed(now, reason="chosen")
        await self.after_assignments(assigned)
        return now

    async def reassign(self, cid: str, to_agent_id: int, reason: str, by: dict) -> dict:
        """A supervisor moves a conversation to an agent who is present with a free place
        (else 409 with the reason); the former owner's place frees and the queue drains."""
        conversations = self.store.conversations
        before = await conversations.get(cid)
        drained = await conversations.reassign(cid, to_agent_id, reason, by)
        summary = await conversations.summary(cid)
        if before and before["agent_id"] and before["agent_id"] != to_agent_id:
            await self.hub.to_agent(before["agent_id"], {"type": "conversation",
                                                         "conversation": summary})
        await self.on_assigned(cid, to_agent_id)
        await self.after_assignments(drained)
        return summary

    async def context(self, conv: dict) -> dict:
        """The agent's context panel: page, cart, locale, latest intent and entities
        (Rasa's tracker, fetched now), the customer's past orders."""
        parse = await self.rasa.latest_parse(conv["conversation_id"])
        if parse is not None:
            self.parse_cache[conv["conversation_id"]] = parse
        parse = parse or self.parse_cache.get(conv["conversation_id"]) or {}
        orders = []
        if conv.get("customer_id"):
            try:
                orders = [o.as_payload() for o in
                          self.catalog.orders_of_customer(conv["customer_id"])]
            except CatalogError:
                orders = []
        return {"page": conv.get("page") or {}, "cart": conv.get("cart"),
                "cart_value": self.cart_value(conv.get("cart")),
                "locale": conv["locale"], "intent": parse.get("intent"),
                "entities": parse.get("entities") or [], "slots": parse.get("slots") or {},
                "customer_id": conv.get("customer_id"), "contact": conv.get("contact"),
                "past_orders": orders}

    # -- the review list (desk/store/reviews.py) -------------------------------------------
    async def _read_parse(self, cid: str, msg: dict) -> None:
        """What the bot read in a shopper message it has just answered or drafted for
        (Rasa's tracker, asked before the conversation's next message goes to Rasa): kept
        with the message, and the message put on the review list when the bot did not
        understand it (nlu_fallback, out_of_scope, or below the review confidence)."""
        parse = await self.rasa.latest_parse(cid)
        if parse is None:
            return
        self.parse_cache[cid] = parse
        await self.store.reviews.remember_parse(msg["id"], parse)
        if not_understood(parse, self.settings.desk_review_below_confidence):
            await self._enter_review(msg["id"], "not_understood")

    async def _enter_review(self, message_id: int, reason: str) -> None:
        """Put a shopper message on the review list (once: a message already on it stays
        as it entered) and tell the consoles that may see it."""
        entry = await self.store.reviews.enter(message_id, reason)
        if entry is None:
            return
        conv = await self.store.conversations.get(entry["conversation_id"])
        await self.hub.to_agent_and_supervisors(
            conv["agent_id"] if conv else None, {"type": "review", "review": entry})

    def review_intents(self) -> list[str]:
        """The intents a reviewer may choose: the domain's, nlu_fallback left out."""
        return domain_choices()[0]

    def review_entities(self) -> list[str]:
        """The entity types a reviewer may mark: the domain's."""
        return domain_choices()[1]

    async def pending_reviews(self, agent: dict) -> dict:
        """The entries the agent may review, oldest first, and the intents to choose
        from."""
        return {"reviews": await self.store.reviews.pending(agent),
                "intents": self.review_intents(), "entities": self.review_entities()}

    async def review(self, agent: dict, review_id: int, intent: Any,
                     entities: Any = None) -> dict:
        """Confirm or correct an entry: an intent of the domain, and entities
        ([{"entity", "value"[, "start", "end"]}], the domain's entity types; None keeps
        the bot's)."""
        if intent not in self.review_intents():
            raise DeskError("intent must be one of the domain's intents")
        if entities is not None:
            entities = self._checked_entities(entities)
        return await self.store.reviews.review(review_id, agent, intent, entities)

    def _checked_entities(self, entities: Any) -> list[dict]:
        if not isinstance(entities, list) or len(entities) > 20:
            raise DeskError("entities must be a list (at most 20)")
        out = []
        for e in entities:
            if not (isinstance(e, dict) and e.get("entity") in self.review_entities()
                    and isinstance(e.get("value"), str) and 0 < len(e["value"]) <= 200):
                raise DeskError("each entity needs an entity type of the domain and a value")
            item = {"entity": e["entity"], "value": e["value"]}
            for k in ("start", "end"):
                if isinstance(e.get(k), int) and not isinstance(e.get(k), bool) \
                        and 0 <= e[k] <= 10_000:
                    item[k] = e[k]
            out.append(item)
        return out

    async def review_counts(self, agent: dict) -> dict:
        """Reviewed and pending entries the agent may see, and how understanding changed
        (by week, and since the installed model was installed: bot/training.py keeps
        when, beside the model)."""
        return await self.store.reviews.counts(agent,
                                               model_installed_at=self.model_installed_at())

    def model_installed_at(self) -> Optional[str]:
        path = scores_path(model_path(self.settings.models_dir))
        try:
            return json.loads(path.read_text()).get("installed_at")
        except (OSError, ValueError, AttributeError):
            return None
