"""The desk's conversation logic: a shopper message's way through the bot or to the owner,
handoffs (the bot's own and the desk's rules), suggestions, and the pushes that follow.

The HTTP handlers (desk/app.py) only parse, authorize and call `DeskService`.
Invariant kept here: once a conversation has left the bot (queued, assigned), nothing Rasa
returns is ever stored as a shopper-visible message; it becomes suggestions for the owner.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any, Optional

from catalog.queries import Catalog, CatalogError

from . import facts as factcheck
from .hub import Hub
from .rasa_client import RasaClient, RasaUnavailable
from .routing import BusinessHours
from .store import DeskStore

logger = logging.getLogger(__name__)

TEXTS = {
    "holding": {
        "zh": "亲，小助手这会儿有点忙，已为您转接人工客服，请稍等～您的消息我们已经收到了。",
        "en": "Sorry, our assistant is busy right now. We have your message and a member "
              "of our team will answer shortly."},
    "handoff": {
        "zh": "亲，已为您转接人工客服，请稍等～",
        "en": "I'm passing you to a member of our team; they'll be with you shortly."},
    "queued": {
        "zh": "亲，您前面还有{position}位，预计等待约{minutes}分钟，客服会按顺序接待您～",
        "en": "You are number {position} in the queue; the wait is about {minutes} min."},
    "agent_joined": {
        "zh": "亲，客服{agent_name}为您服务～",
        "en": "{agent_name} from our team has joined the chat."},
    "resolved": {
        "zh": "亲，本次服务已结束，感谢您的耐心～有问题随时再找我们哦。",
        "en": "This chat is now closed. Thanks for your patience; write again any time."},
    "offline": {
        "zh": "亲，人工客服的服务时间是{hours}，现在不在线。请留下联系方式和问题，"
              "我们上班后第一时间联系您～",
        "en": "Our team is available {hours} (shop time) and offline right now. Leave your "
              "contact details and your question and we'll get back to you first thing."},
    "contact_ack": {
        "zh": "亲，留言已收到，客服上班后会尽快联系您～",
        "en": "Thanks, we have your message and will get back to you as soon as we can."},
}


def text(key: str, lang: str, **fields: Any) -> str:
    entry = TEXTS[key]
    return (entry.get(lang) or entry["en"]).format(**fields)


_ZH_DIGITS = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7,
              "八": 8, "九": 9}
_PCT = re.compile(r"(\d{1,2}(?:\.\d+)?)\s*(?:%|％|percent|pct)", re.I)
_ZHE = re.compile(r"([0-9一二两三四五六七八九]{1,2}(?:\.[0-9])?)\s*折")


def requested_discount_pct(message: str) -> Optional[float]:
    """The discount a shopper asks for, in percent: "打8折" → 20, "85折" → 15,
    "10% off" → 10; None when no figure is named."""
    m = _PCT.search(message or "")
    if m:
        return float(m.group(1))
    m = _ZHE.search(message or "")
    if m:
        raw = m.group(1)
        digits = "".join(str(_ZH_DIGITS.get(ch, ch)) for ch in raw)
        try:
            value = float(digits)
        except ValueError:
            return None
        if "." not in digits and len(digits) == 2:       # 85折 = 8.5折
            value /= 10
        if 0 < value < 10:
            return round(100 - value * 10, 2)
    return None


class DeskService:
    def __init__(self, settings, store: DeskStore, rasa: RasaClient, catalog: Catalog,
                 hub: Hub):
        self.settings = settings
        self.store = store
        self.rasa = rasa
        self.catalog = catalog
        self.hub = hub
        self.hours = BusinessHours.parse(settings.desk_hours)
        self._locks: dict[str, asyncio.Lock] = {}
        self._inflight: dict[tuple[str, str], asyncio.Future] = {}
        self._tasks: set[asyncio.Task] = set()
        self.parse_cache: dict[str, dict] = {}

    # -- helpers ---------------------------------------------------------------------------
    def now(self):
        return self.store.clock()

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

    def rule_handoff(self, shopper_text: str, replies: list[dict]) -> Optional[str]:
        """A desk rule that wants a human for this turn ("discount"), or None."""
        mode = self.settings.desk_handoff_discount
        if mode == "off":
            return None
        for r in replies:
            custom = r.get("custom") or {}
            if custom.get("type") != "discount":
                continue
            if mode == "any":
                return "discount"
            asked = requested_discount_pct(shopper_text)
            try:
                limit = float(custom.get("max_agent_discount_pct") or 0)
            except (TypeError, ValueError):
                limit = 0.0
            if asked is not None and asked > limit:
                return "discount"
        return None

    # -- the shopper's side ------------------------------------------------------------------
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
        store = self.store
        stored = await store.run(store.add_shopper_message, cid, text_, client_id, metadata)
        msg = stored["message"]
        if stored["duplicate"]:
            replies = await store.run(store.replies_to, msg["id"])
            return await self._answer(cid, msg, replies)
        conv = stored["conversation"]
        for ev in stored["events"]:
            await self._on_event(cid, ev)
        if conv["state"] == "bot":
            replies = await self._bot_turn(conv, msg, metadata)
        else:
            summary = await store.run(store.summary, cid)
            await self.hub.to_agent_and_supervisors(
                conv["agent_id"], {"type": "message", "conversation_id": cid, "message": msg,
                                   "conversation": summary})
            self.spawn(self._suggest(conv, msg, metadata))
            replies = []
            if conv["state"] == "queued":
                await self.push_queue()
        return await self._answer(cid, msg, replies)

    async def _answer(self, cid: str, msg: dict, replies: list[dict]) -> dict:
        conv = await self.store.run(self.store.conversation, cid)
        out = {"message": msg, "replies": replies, "state": conv["state"]}
        if conv["state"] == "queued":
            out["queue"] = (await self.store.run(self.store.queue_estimates)).get(cid)
        return out

    async def _bot_turn(self, conv: dict, msg: dict, metadata: dict) -> list[dict]:
        cid, lang = conv["conversation_id"], conv["locale"]
        store = self.store
        limit = self.settings.desk_handoff_cart_above
        if limit and self.cart_value(conv.get("cart")) > limit and self.is_open():
            # a big order: a person takes it now; the bot's answer drafts the first reply
            sys_msgs = await store.run(store.add_messages, cid, "system", [
                {"text": text("handoff", lang), "custom": {"type": "handoff",
                                                           "reason": "cart_value"}}],
                msg["id"])
            await self._push_shopper_messages(cid, sys_msgs)
            more = await self.handoff(cid, "cart_value", reply_to=msg["id"])
            self.spawn(self._suggest(conv, msg, metadata))
            return sys_msgs + more

        await self.hub.to_shopper(cid, {"type": "typing", "sender": "bot", "on": True})
        try:
            replies = await self.rasa.send(cid, msg["text"],
                                           self.rasa.metadata(conv, metadata))
        except RasaUnavailable as exc:
            logger.warning("Rasa unavailable for %s: %s", cid, exc)
            await self.hub.to_shopper(cid, {"type": "typing", "sender": "bot", "on": False})
            sys_msgs = await store.run(store.add_messages, cid, "system", [
                {"text": text("holding", lang),
                 "custom": {"type": "handoff", "reason": "rasa_unavailable"}}], msg["id"])
            await self._push_shopper_messages(cid, sys_msgs)
            return sys_msgs + await self.handoff(cid, "rasa_unavailable", reply_to=msg["id"])
        await self.hub.to_shopper(cid, {"type": "typing", "sender": "bot", "on": False})

        reason = next(((r.get("custom") or {}).get("reason") or "requested"
                       for r in replies if (r.get("custom") or {}).get("type") == "handoff"),
                      None)
        is_open = self.is_open()
        rule = None if reason or not is_open else self.rule_handoff(msg["text"], replies)
        if reason and not is_open:
            # nobody to hand to: say when the team is in and offer the contact form
            shown = [r for r in replies if (r.get("custom") or {}).get("type") != "handoff"]
            shown.append({"text": text("offline", lang, hours=self.hours.text),
                          "custom": {"type": "offline", "hours": self.hours.text,
                                     "reason": reason, "contact_form": True}})
            bot_msgs = await store.run(store.add_messages, cid, "bot",
                                       shown[:-1], msg["id"]) if shown[:-1] else []
            sys_msgs = await store.run(store.add_messages, cid, "system", shown[-1:],
                                       msg["id"])
            await self._push_shopper_messages(cid, bot_msgs + sys_msgs)
            return bot_msgs + sys_msgs
        if rule:
            # the bot's answer goes to the agent as a draft, the shopper hears a person comes
            sys_msgs = await store.run(store.add_messages, cid, "system", [
                {"text": text("handoff", lang), "custom": {"type": "handoff",
                                                           "reason": rule}}], msg["id"])
            await self._push_shopper_messages(cid, sys_msgs)
            more = await self.handoff(cid, rule, reply_to=msg["id"])
            await self._store_suggestions(cid, msg, replies)
            return sys_msgs + more
        bot_msgs = await store.run(store.add_messages, cid, "bot", replies, msg["id"]) \
            if replies else []
        await self._push_shopper_messages(cid, bot_msgs)
        if reason:
            bot_msgs += await self.handoff(cid, reason, reply_to=msg["id"])
        return bot_msgs

    async def _push_shopper_messages(self, cid: str, msgs: list[dict]) -> None:
        for m in msgs:
            await self.hub.to_shopper(cid, {"type": "message", "message": m})

    # -- handoff, assignment, queue ------------------------------------------------------------
    async def handoff(self, cid: str, reason: str, reply_to: Optional[int] = None) \
            -> list[dict]:
        """Queue a bot conversation for a human; returns the system messages it produced
        for the shopper (queued or agent joined)."""
        res = await self.store.run(self.store.handoff, cid, reason)
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
            est = (await self.store.run(self.store.queue_estimates)).get(cid) or \
                {"position": 1, "estimated_wait_s": self.settings.desk_default_handle_s}
            conv = await self.store.run(self.store.conversation, cid)
            lang = conv["locale"]
            msgs = await self.store.run(self.store.add_messages, cid, "system", [
                {"text": text("queued", lang, position=est["position"],
                              minutes=max(1, round(est["estimated_wait_s"] / 60))),
                 "custom": {"type": "queued", **est}}], reply_to)
            await self._push_shopper_messages(cid, msgs)
            self.hub.last_queue_status[cid] = (est["position"], est["estimated_wait_s"])
            await self.hub.to_shopper(cid, {"type": "status", "state": "queued",
                                            "queue": est})
            out = msgs
        await self.push_queue()
        return out

    async def on_assigned(self, cid: str, agent_id: int,
                          reply_to: Optional[int] = None) -> list[dict]:
        """An agent took a conversation: tell the shopper and the agent."""
        store = self.store
        agent = await store.run(store.agent, agent_id)
        conv = await store.run(store.conversation, cid)
        msgs = await store.run(store.add_messages, cid, "system", [
            {"text": text("agent_joined", conv["locale"], agent_name=agent["display_name"]),
             "custom": {"type": "agent_joined", "agent_name": agent["display_name"]}}],
            reply_to)
        self.hub.last_queue_status.pop(cid, None)
        await self._push_shopper_messages(cid, msgs)
        await self.hub.to_shopper(cid, {"type": "status", "state": "assigned",
                                        "agent_name": agent["display_name"]})
        summary = await store.run(store.summary, cid)
        await self.hub.to_agent_and_supervisors(agent_id, {"type": "assigned",
                                                           "conversation": summary})
        return msgs

    async def after_assignments(self, assigned: list[tuple[str, int]]) -> None:
        for cid, agent_id in assigned:
            await self.on_assigned(cid, agent_id)
        await self.push_queue()

    async def push_queue(self) -> None:
        """Queue positions and waits to every queued shopper whose figures changed (in
        their language), and the queue to the agents."""
        store = self.store
        est = await store.run(store.queue_estimates)
        for cid in list(self.hub.last_queue_status):
            if cid not in est:
                self.hub.last_queue_status.pop(cid, None)
        for cid, e in est.items():
            figures = (e["position"], e["estimated_wait_s"])
            if self.hub.last_queue_status.get(cid) == figures:
                continue
            self.hub.last_queue_status[cid] = figures
            if cid in self.hub.shoppers:
                conv = await store.run(store.conversation, cid)
                await self.hub.to_shopper(cid, {
                    "type": "status", "state": "queued", "queue": e,
                    "text": text("queued", conv["locale"], position=e["position"],
                                 minutes=max(1, round(e["estimated_wait_s"] / 60)))})
        if self.hub.agents:
            await self.hub.to_all_agents({"type": "queue",
                                          "queue": await store.run(store.queue)})

    async def _on_event(self, cid: str, ev: dict) -> None:
        if ev["type"] == "reopened":
            summary = await self.store.run(self.store.summary, cid)
            await self.hub.to_shopper(cid, {"type": "status", "state": "assigned",
                                            "agent_name": summary["agent_name"]})
            await self.hub.to_agent_and_supervisors(ev["agent_id"], {
                "type": "conversation", "conversation": summary})
        elif ev["type"] == "assigned":
            await self.on_assigned(ev["conversation_id"], ev["agent_id"])
        elif ev["type"] in ("queued", "restarted"):
            await self.hub.to_shopper(cid, {"type": "status", "state":
                                            "queued" if ev["type"] == "queued" else "bot"})
            await self.push_queue()

    # -- suggestions -------------------------------------------------------------------------
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
            custom = r.get("custom") if isinstance(r.get("custom"), dict) else None
            ctype = (custom or {}).get("type")
            if ctype == "handoff" or not (r.get("text") or custom):
                continue
            items.append({"kind": "crosssell" if ctype == "recommendations" else "answer",
                          "text": str(r.get("text") or ""), "buttons": r.get("buttons"),
                          "custom": custom, "facts": factcheck.facts_of(custom)})
        if not items:
            return
        stored = await self.store.run(self.store.add_suggestions, cid, msg["id"], items)
        conv = await self.store.run(self.store.conversation, cid)
        if conv and conv["state"] == "assigned":
            await self.hub.to_agent(conv["agent_id"], {
                "type": "suggestions", "conversation_id": cid, "message_id": msg["id"],
                "suggestions": stored})

    def fact_changes(self, suggestion: dict) -> list[dict]:
        try:
            return factcheck.changes(self.catalog, suggestion.get("facts") or {}, self.now())
        except CatalogError as exc:
            return [{"field": "catalog", "old": None, "new": str(exc)}]

    # -- the agent's side ----------------------------------------------------------------------
    async def agent_message(self, cid: str, agent: dict, text_: str,
                            suggestion_id: Optional[int]) -> dict:
        res = await self.store.run(self.store.send_agent_message, cid, agent, text_,
                                   suggestion_id)
        await self.hub.to_shopper(cid, {"type": "message", "message": res["message"]})
        return res

    async def resolve(self, cid: str, agent: dict) -> dict:
        store = self.store
        assigned = await store.run(store.resolve, cid, agent)
        conv = await store.run(store.conversation, cid)
        msgs = await store.run(store.add_messages, cid, "system", [
            {"text": text("resolved", conv["locale"]), "custom": {"type": "resolved"}}])
        await self._push_shopper_messages(cid, msgs)
        await self.hub.to_shopper(cid, {"type": "status", "state": "resolved"})
        summary = await store.run(store.summary, cid)
        await self.hub.to_agent_and_supervisors(conv["agent_id"], {"type": "conversation",
                                                                   "conversation": summary})
        await self.after_assignments(assigned)
        return summary

    async def set_status(self, agent: dict, status: str) -> dict:
        assigned = await self.store.run(self.store.set_status, agent["agent_id"], status)
        await self.after_assignments(assigned)
        return await self.store.run(self.store.agent, agent["agent_id"])

    async def reassign(self, cid: str, to_agent_id: int, reason: str, by: dict) -> dict:
        store = self.store
        before = await store.run(store.conversation, cid)
        await store.run(store.reassign, cid, to_agent_id, reason, by)
        summary = await store.run(store.summary, cid)
        if before and before["agent_id"] and before["agent_id"] != to_agent_id:
            await self.hub.to_agent(before["agent_id"], {"type": "conversation",
                                                         "conversation": summary})
        await self.on_assigned(cid, to_agent_id)
        await self.push_queue()
        return summary

    async def leave_contact(self, conv: dict, contact: str, text_: str) -> dict:
        store = self.store
        cid = conv["conversation_id"]
        async with self._lock(cid):
            res = await store.run(store.leave_contact, cid, contact, text_, conv["locale"])
            msgs = await store.run(store.add_messages, cid, "system", [
                {"text": text("contact_ack", conv["locale"]),
                 "custom": {"type": "contact_ack"}}], res["message"]["id"])
            await self._push_shopper_messages(cid, msgs)
        conv_now = await store.run(store.conversation, cid)
        if conv_now["agent_id"]:
            await self.hub.to_agent(conv_now["agent_id"], {
                "type": "message", "conversation_id": cid, "message": res["message"]})
        await self.after_assignments(res["assigned"])
        return {"message": res["message"], "replies": msgs, "state": conv_now["state"]}

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
