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
import logging
from typing import Any, Optional

from catalog.queries import Catalog, CatalogError

from . import facts as factcheck
from . import metrics, routing
from .errors import Conflict, DeskError, Forbidden, NotFound
from .hub import Hub
from .queue_notifier import QueueNotifier, queued_text
from .rasa_client import RasaClient, RasaUnavailable
from .routing import BusinessHours
from .store import DeskStore
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


class DeskService:
    def __init__(self, settings, store: DeskStore, rasa: RasaClient, catalog: Catalog,
                 hub: Hub):
        self.settings = settings
        self.store = store
        self.rasa = rasa
        self.catalog = catalog
        self.hub = hub
        self.queue_notifier = QueueNotifier(store, hub)
        self.hours = BusinessHours.parse(settings.desk_hours)
        self._locks: dict[str, asyncio.Lock] = {}
        self._inflight: dict[tuple[str, str], asyncio.Future] = {}
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
    async def create_conversation(self, locale: str, page: dict,
                                  customer_id: Optional[str]) -> tuple[dict, str]:
        """A new conversation with the bot: (conversation, shopper token)."""
        return await self.store.conversations.create(locale, page, customer_id)

    async def authorize_shopper(self, cid: str, token: str) -> dict:
        return await self.store.conversations.authorize(cid, token)

    async def conversation_view(self, conv: dict) -> dict:
        """What the shopper may know of their conversation: state, owner, queue place."""
        agent = queue = None
        if conv["state"] == "assigned" and conv["agent_id"]:
            a = await self.store.accounts.agent(conv["agent_id"])
            agent = {"display_name": a["display_name"]} if a else None
        if conv["state"] == "queued":
            queue = await self.queue_notifier.estimate(conv["conversation_id"])
        return {"conversation_id": conv["conversation_id"], "state": conv["state"],
                "locale": conv["locale"], "agent": agent, "queue": queue}

    async def history(self, cid: str, after: int = 0) -> list[dict]:
        return await self.store.conversations.history(cid, after)

    async def desk_status(self, locale: Optional[str]) -> dict:
        counts = await self.store.conversations.status_counts(locale)
        return {"open": self.is_open(), "hours": self.hours.text, **counts}

    async def shopper_status(self, conv: dict) -> dict:
        """The `status` event a shopper's socket gets on connect."""
        status: dict = {"type": "status", "state": conv["state"]}
        if conv["state"] == "queued":
            status["queue"] = await self.queue_notifier.estimate(conv["conversation_id"])
        return status

    async def shopper_typing(self, cid: str, on: bool) -> None:
        """The shopper types: shown to the owner."""
        current = await self.store.conversations.get(cid)
        if current and current["state"] == "assigned":
            await self.hub.to_agent(current["agent_id"], {
                "type": "typing", "conversation_id": cid, "on": on})

    async def shopper_message(self, conversation: dict, text_: str,
                              client_id: Optional[str], metadata: dict) -> dict:
        """Store a shopper message, answer it (bot) or route it (human); see the API doc
        for the answer's shape. The same client_id twice gives the first answer."""
        cid = conversation["conversation_id"]
        key = (cid, client_id) if client_id else None
        if key and key in self._inflight:
            return await asyncio.shield(self._inflight[key])
        fut: asyncio.Future = asyncio.get_running_loop().create_future()
        if key:
            self._inflight[key] = fut
        try:
            async with self._lock(cid):
                result = await self._shopper_message(cid, text_, client_id, metadata)
            fut.set_result(result)
            return result
        except BaseException as exc:
            fut.set_exception(exc)
            fut.exception()          # retrieved: no "never retrieved" warning
            raise
        finally:
            if key:
                self._inflight.pop(key, None)

    async def _shopper_message(self, cid: str, text_: str, client_id: Optional[str],
                               metadata: dict) -> dict:
        conversations = self.store.conversations
        stored = await conversations.add_shopper_message(cid, text_, client_id, metadata)
        msg = stored["message"]
        if stored["duplicate"]:
            return await self._answer(cid, msg, await conversations.replies_to(msg["id"]))
        conv = stored["conversation"]
        for ev in stored["events"]:
            await self._on_event(cid, ev)
        if conv["state"] == "bot":
            replies = await self._bot_turn(conv, msg, metadata)
        else:
            summary = await conversations.summary(cid)
            await self.hub.to_agent_and_supervisors(
                conv["agent_id"], {"type": "message", "conversation_id": cid, "message": msg,
                                   "conversation": summary})
            self.spawn(self._suggest(conv, msg, metadata))
            replies = []
            if conv["state"] == "queued":
                await self.queue_notifier.push()
        return await self._answer(cid, msg, replies)

    async def _answer(self, cid: str, msg: dict, replies: list[dict]) -> dict:
        conv = await self.store.conversations.get(cid)
        out = {"message": msg, "replies": replies, "state": conv["state"]}
        if conv["state"] == "queued":
            out["queue"] = await self.queue_notifier.estimate(cid)
        return out

    async def _bot_turn(self, conv: dict, msg: dict, metadata: dict) -> list[dict]:
        cid, lang = conv["conversation_id"], conv["locale"]
        limit = self.settings.desk_handoff_cart_above
        if limit and self.cart_value(conv.get("cart")) > limit and self.is_open():
            # a big order: a person takes it now; the bot's answer drafts the first reply
            told = await self._notice(cid, TEXTS.render("handoff", lang),
                                      {"type": "handoff", "reason": "cart_value"}, msg["id"])
            more = await self.handoff(cid, "cart_value", reply_to=msg["id"])
            self.spawn(self._suggest(conv, msg, metadata))
            return told + more

        await self.hub.to_shopper(cid, {"type": "typing", "sender": "bot", "on": True})
        try:
            replies = await self.rasa.send(cid, msg["text"],
                                           self.rasa.metadata(conv, metadata))
        except RasaUnavailable as exc:
            logger.warning("Rasa unavailable for %s: %s", cid, exc)
            await self.hub.to_shopper(cid, {"type": "typing", "sender": "bot", "on": False})
            told = await self._notice(cid, TEXTS.render("holding", lang),
                                      {"type": "handoff", "reason": "rasa_unavailable"},
                                      msg["id"])
            return told + await self.handoff(cid, "rasa_unavailable", reply_to=msg["id"])
        await self.hub.to_shopper(cid, {"type": "typing", "sender": "bot", "on": False})

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
            cid, reason, requested_discount_pct=requested_discount_pct)
        if not res["changed"]:
            return []
        out: list[dict] = []
        mine = False
        for other, agent_id in res["assigned"]:
            msgs = await self.on_assigned(other, agent_id,
                                          reply_to=reply_to if other == cid else None)
            if other == cid:
                mine, out = True, msgs
        if not mine:
            est = await self.queue_notifier.estimate(cid) or \
                {"position": 1, "estimated_wait_s": self.settings.desk_default_handle_s}
            conv = await self.store.conversations.get(cid)
            out = await self._notice(cid, queued_text(conv["locale"], est),
                                     {"type": "queued", **est}, reply_to)
            await self.queue_notifier.queued(cid, est)
        await self.queue_notifier.push()
        return out

    async def on_assigned(self, cid: str, agent_id: int,
                          reply_to: Optional[int] = None) -> list[dict]:
        """An agent took a conversation: tell the shopper and the agent."""
        agent = await self.store.accounts.agent(agent_id)
        conv = await self.store.conversations.get(cid)
        name = agent["display_name"]
        self.queue_notifier.left(cid)
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
    async def _suggest(self, conv: dict, msg: dict, metadata: dict) -> None:
        cid = conv["conversation_id"]
        try:
            replies = await self.rasa.send(cid, msg["text"], self.rasa.metadata(conv, metadata))
        except RasaUnavailable as exc:
            logger.info("no suggestions for %s: %s", cid, exc)
            return
        await self._store_suggestions(cid, msg, replies)

    async def _store_suggestions(self, cid: str, msg: dict, replies: list[dict]) -> None:
        items = []
        for r in replies:
            custom = _custom(r) or None
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
            return [{"field": "catalog", "old": None, "new": str(exc)}]

    # -- the agent's side ------------------------------------------------------------------
    async def login(self, username: str, password: str, hours: int) -> tuple[dict, str, str]:
        """(agent, session cookie value, CSRF token); 401 for a wrong name or password."""
        accounts = self.store.accounts
        agent = await accounts.authenticate(username, password)
        if agent is None:
            raise DeskError("wrong username or password", 401)
        sid, csrf = await accounts.create_session(agent["agent_id"], hours)
        return agent, sid, csrf

    async def logout(self, sid: str) -> None:
        await self.store.accounts.delete_session(sid)

    async def session(self, sid: str) -> Optional[tuple[dict, str]]:
        """(agent, CSRF token) of a session cookie, or None."""
        return await self.store.accounts.session(sid) if sid else None

    async def agent_hello(self, agent: dict) -> dict:
        """The event an agent's socket gets on connect."""
        return {"type": "hello", "agent": agent,
                "queue": await self.store.conversations.queue()}

    async def agent_typing(self, agent: dict, cid: str, on: bool) -> None:
        """The owner types: shown to the shopper."""
        conv = await self.store.conversations.get(cid)
        if conv and conv["agent_id"] == agent["agent_id"] and conv["state"] == "assigned":
            await self.hub.to_shopper(cid, {"type": "typing", "sender": "agent", "on": on})

    async def agents(self) -> list[dict]:
        return await self.store.accounts.agents()

    async def canned(self, locale: str) -> list[dict]:
        return await self.store.accounts.canned(locale)

    async def metrics(self, day: str) -> dict:
        """The day's KPIs (desk/metrics.py)."""
        return metrics.day_metrics(await self.store.metrics.day(day))

    async def agent_lists(self, agent: dict) -> dict:
        """An agent's conversations and the queue; a supervisor also sees every owned
        conversation (to reassign when an owner cannot go on)."""
        conversations = self.store.conversations
        body = {"mine": await conversations.mine(agent["agent_id"]),
                "queue": await conversations.queue()}
        if agent["role"] == "supervisor":
            body["assigned"] = await conversations.assigned()
        return body

    async def conversation_for_agent(self, agent: dict, cid: str) -> dict:
        """A conversation the agent may open: their own, or any for a supervisor."""
        conv = await self.store.conversations.get(cid)
        if conv is None:
            raise NotFound("no such conversation")
        if agent["role"] != "supervisor" and conv["agent_id"] != agent["agent_id"]:
            raise Forbidden("not your conversation")
        return conv

    async def conversation_detail(self, conv: dict) -> dict:
        cid = conv["conversation_id"]
        conversations = self.store.conversations
        return {"conversation": await conversations.summary(cid),
                "messages": await conversations.history(cid),
                "context": await self.context(conv),
                "suggestions": await self.store.suggestions.of_conversation(cid),
                "assignments": await conversations.ownership_log(cid)}

    async def agent_send(self, conv: dict, agent: dict, text_: str,
                         suggestion_id: Optional[int] = None, confirm: bool = False) -> dict:
        """The owner writes to the shopper, from scratch or from a suggestion (its text
        when `text_` is blank). A suggestion whose facts changed since it was drafted is
        refused (409 with the changes) unless `confirm`. Stored, then pushed."""
        cid = conv["conversation_id"]
        if suggestion_id is not None:
            suggestion = await self.store.suggestions.get(suggestion_id)
            if suggestion is None or suggestion["conversation_id"] != cid:
                raise NotFound("no such suggestion in this conversation")
            if not text_.strip():
                text_ = suggestion["text"]
            if not confirm:
                changes = await asyncio.get_running_loop().run_in_executor(
                    None, self.fact_changes, suggestion)
                if changes:
                    raise Conflict("the catalog changed since this suggestion was drafted",
                                   changes=changes)
        res = await self.store.conversations.agent_message(cid, agent, text_, suggestion_id)
        await self.hub.to_shopper(cid, {"type": "message", "message": res["message"]})
        out = {"message": res["message"]}
        if res["suggestion"]:
            out["suggestion"] = res["suggestion"]
        return out

    async def skip_suggestion(self, suggestion_id: int, agent: dict) -> dict:
        return await self.store.suggestions.skip(suggestion_id, agent)

    async def resolve(self, cid: str, agent: dict) -> dict:
        conversations = self.store.conversations
        assigned = await conversations.resolve(cid, agent)
        conv = await conversations.get(cid)
        await self._notice(cid, TEXTS.render("resolved", conv["locale"]), {"type": "resolved"})
        await self.hub.to_shopper(cid, {"type": "status", "state": "resolved"})
        summary = await conversations.summary(cid)
        await self.hub.to_agent_and_supervisors(conv["agent_id"], {"type": "conversation",
                                                                   "conversation": summary})
        await self.after_assignments(assigned)
        return summary

    async def set_status(self, agent: dict, status: str) -> dict:
        assigned = await self.store.accounts.set_status(agent["agent_id"], status)
        await self.after_assignments(assigned)
        return await self.store.accounts.agent(agent["agent_id"])

    async def reassign(self, cid: str, to_agent_id: int, reason: str, by: dict) -> dict:
        conversations = self.store.conversations
        before = await conversations.get(cid)
        await conversations.reassign(cid, to_agent_id, reason, by)
        summary = await conversations.summary(cid)
        if before and before["agent_id"] and before["agent_id"] != to_agent_id:
            await self.hub.to_agent(before["agent_id"], {"type": "conversation",
                                                         "conversation": summary})
        await self.on_assigned(cid, to_agent_id)
        await self.queue_notifier.push()
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
