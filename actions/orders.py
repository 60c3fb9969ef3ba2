"""Order status and returns: where is my order, can I return it.

An order is shown only to the signed-in shopper it belongs to (`customer_of`: the
storefront's customer id with a valid signature). An anonymous shopper who asks about an
order is told to sign in (or offered a person) and learns nothing about it, not even
whether the number exists; a signed-in shopper gets the same words for a number that does
not exist and for another customer's order.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from catalog.queries import Catalog, OrderStatus

from .base import (TEXTS, Context, ShopAction, asks, day_phrase, get_catalog,
                   latest_entities, now, say, short_date, with_display_names)
from .service import last_answer_kind


def status_name(status: str, lang: str) -> str:
    """"已付款，待发货" / "paid, being packed" for a status of the orders table."""
    key = f"status_{status}"
    return TEXTS.render(key, lang) if key in TEXTS else status


def order_number(tracker: Tracker) -> Optional[str]:
    """The order number the shopper gave: in this message, else earlier."""
    ids = latest_entities(tracker, "order_id") or [tracker.get_slot("order_id")]
    return next((str(i) for i in ids if i), None)


def own_order(catalog: Catalog, order_id: str, customer: Optional[str]) -> Optional[OrderStatus]:
    """The order when it belongs to `customer` (a verified id), else None: an unknown
    number and another customer's order look the same."""
    if not customer:
        return None
    order = catalog.order_status(order_id)
    return order if order is not None and order.customer_id == customer else None


def status_text(catalog: Catalog, order: OrderStatus, lang: str) -> str:
    """Where the order is, in the shopper's words: when it ships (paid), with which courier
    and tracking number (shipped, delivered)."""
    at = now()
    if order.status == "paid":
        created = datetime.fromisoformat(order.created_at).replace(tzinfo=at.tzinfo)
        plan = None
        if order.items:
            plan = catalog.ship_date(max(created, at), sku=order.items[0]["sku"])
        if plan and plan.ship_date:
            return TEXTS.render("status_paid_ships", lang,
                                ship_phrase=day_phrase(plan.ship_date, at.date(), lang))
        return status_name(order.status, lang)
    if order.status in ("shipped", "delivered"):
        carrier = catalog.carrier_name(order.carrier, lang)
        if order.status == "delivered" and order.delivered_at:
            return TEXTS.render("status_delivered", lang, carrier=carrier,
                                tracking_no=order.tracking_no,
                                delivered=short_date(_day(order.delivered_at), lang))
        return TEXTS.render("status_shipped", lang, carrier=carrier,
                            tracking_no=order.tracking_no,
                            shipped=short_date(_day(order.shipped_at), lang)
                            if order.shipped_at else "")
    return status_name(order.status, lang)


def _day(timestamp: str):
    return datetime.fromisoformat(timestamp).date()


class ActionOrderStatus(ShopAction):
    """Where the signed-in shopper's order is; asks for the number when missing (the next
    message, even a bare number, is then that order: data/rules/service.yml)."""

    def name(self) -> Text:
        return "action_order_status"

    async def answer(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                     ctx: Context) -> List[Dict[Text, Any]]:
        catalog, lang = get_catalog(), ctx.language
        if not ctx.customer:
            say(dispatcher, lang, "order_sign_in",
                custom={"type": "order_status", "status": "sign_in_required"})
            return []
        order_id = order_number(tracker)
        if order_id is None:
            say(dispatcher, lang, "ask_order_id")
            return [asks("order_id")]
        order = own_order(catalog, order_id, ctx.customer)
        if order is None:
            say(dispatcher, lang, "order_unknown", order_id=order_id,
                custom={"type": "order_status", "order_id": order_id,
                        "status": "not_found"})
            return []
        say(dispatcher, lang, "order_status", order_id=order.order_id,
            status_text=status_text(catalog, order, lang),
            custom=with_display_names(order.as_payload(), catalog, lang))
        return []


class ActionReturnPolicy(ShopAction):
    """The return policy; for the signed-in shopper's own order, whether it can still be
    returned. A colour or size named right after a stock answer, with no order, is that
    stock question again ("换黑色的": 换 as in "make it", not an exchange)."""

    def name(self) -> Text:
        return "action_return_policy"

    async def answer(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                     ctx: Context) -> List[Dict[Text, Any]]:
        if (not latest_entities(tracker, "order_id")
                and any(latest_entities(tracker, name) for name in ("color", "size"))
                and last_answer_kind(tracker, ("stock",)) == "stock"):
            # "换黑色的" / "swap to black" right after a stock answer, with no order named:
            # another variant of the same question, not an exchange of something bought
            return await ShopAction.named("action_check_stock").answer(dispatcher, tracker,
                                                                        ctx)
        catalog, lang = get_catalog(), ctx.language
        policy = catalog.policy(f"return_policy_{lang}") or ""
        days = int(catalog.policy("return_days", "7") or 7)
        payload = {"type": "return_policy", "return_days": days,
                   "return_shipping_insurance": catalog.policy("return_shipping_insurance")
                   == "1"}
        order_id = order_number(tracker) if latest_entities(tracker, "order_id") else None
        if order_id is None:
            say(dispatcher, lang, "return_policy", policy=policy, custom=payload)
            return []
        if not ctx.customer:
            payload["order_status"] = "sign_in_required"
            say(dispatcher, lang, "return_policy_sign_in", policy=policy, custom=payload)
            return []
        order = own_order(catalog, order_id, ctx.customer)
        if order is None:
            payload.update(order_id=order_id, order_status="not_found")
            say(dispatcher, lang, "return_policy_unknown_order", policy=policy,
                order_id=order_id, custom=payload)
            return []
        payload["order_id"] = order.order_id
        at = now()
        if order.status == "delivered" and order.delivered_at:
            delivered = _day(order.delivered_at)
            last = delivered + timedelta(days=days)
            ok = at.date() <= last
            payload.update(returnable=ok, return_until=last.isoformat())
            verdict = TEXTS.render("return_until" if ok else "return_expired", lang,
                                   delivered=short_date(delivered, lang),
                                   last_day=short_date(last, lang), days=days)
        elif order.status in ("paid", "pending_payment", "shipped"):
            payload["returnable"] = True
            verdict = TEXTS.render("return_not_delivered", lang)
        else:
            payload["returnable"] = False
            verdict = status_name(order.status, lang)
        say(dispatcher, lang, "return_order", policy=policy,
            order_id=order.order_id, verdict=verdict,
            custom=payload)
        return []
