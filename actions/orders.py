"""Order status and returns: where is my order, can I return it."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from catalog.queries import Catalog, OrderStatus

from .context import Context
from .common import (ShopAction, say, day_phrase, get_catalog, latest_entities,
                     metadata_of, now, short_date, with_display_names)

STATUS_ZH = {"pending_payment": "待付款", "paid": "已付款，待发货", "shipped": "已发货",
             "delivered": "已签收", "cancelled": "已取消", "refunded": "已退款"}
STATUS_EN = {"pending_payment": "awaiting payment", "paid": "paid, being packed",
             "shipped": "on its way", "delivered": "delivered", "cancelled": "cancelled",
             "refunded": "refunded"}


def find_order(tracker: Tracker, catalog: Catalog) -> tuple[Optional[str], Optional[OrderStatus]]:
    """The order id the shopper gave (this message first, then earlier) and its record.

    When the storefront says who the shopper is (metadata `customer_id`), another
    customer's order is treated as not found.
    """
    ids = latest_entities(tracker, "order_id") or [tracker.get_slot("order_id")]
    order_id = next((str(i) for i in ids if i), None)
    if not order_id:
        return None, None
    order = catalog.order_status(order_id)
    customer = metadata_of(tracker).get("customer_id")
    if order and customer and order.customer_id != str(customer):
        return order_id, None
    return order_id, order


def status_text(catalog: Catalog, order: OrderStatus, lang: str) -> str:
    at = now()
    if order.status == "paid":
        created = datetime.fromisoformat(order.created_at).replace(tzinfo=at.tzinfo)
        plan = None
        if order.items:
            plan = catalog.ship_date(max(created, at), sku=order.items[0]["sku"])
        if plan and plan.ship_date:
            when = day_phrase(plan.ship_date, at.date(), lang)
            return (f"已付款，仓库正在备货，预计{when}发出～" if lang == "zh" else
                    f"paid and being packed; it should leave the warehouse {when}.")
        return STATUS_ZH["paid"] if lang == "zh" else STATUS_EN["paid"]
    if order.status in ("shipped", "delivered"):
        carrier = catalog.carrier_name(order.carrier, lang)
        shipped = short_date(datetime.fromisoformat(order.shipped_at).date(), lang) \
            if order.shipped_at else ""
        if order.status == "delivered" and order.delivered_at:
            got = short_date(datetime.fromisoformat(order.delivered_at).date(), lang)
            return (f"已于{got}签收（{carrier}，运单号{order.tracking_no}）。" if lang == "zh"
                    else f"delivered on {got} ({carrier}, tracking number "
                         f"{order.tracking_no}).")
        return (f"已于{shipped}由{carrier}发出，运单号{order.tracking_no}，正在路上～"
                if lang == "zh" else
                f"shipped on {shipped} with {carrier}, tracking number "
                f"{order.tracking_no}; it's on its way.")
    return STATUS_ZH.get(order.status, order.status) if lang == "zh" else \
        STATUS_EN.get(order.status, order.status)


class ActionOrderStatus(ShopAction):
    """Looks up the order number the shopper gave; asks for it when missing."""

    def name(self) -> Text:
        return "action_order_status"

    async def answer(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                     ctx: Context) -> List[Dict[Text, Any]]:
        catalog, lang = get_catalog(), ctx.language
        order_id, order = find_order(tracker, catalog)
        if order_id is None:
            say(dispatcher, lang, "ask_order_id")
            return []
        if order is None:
            say(dispatcher, lang, "order_unknown", order_id=order_id,
                                     custom={"type": "order_status",
                                                   "order_id": order_id,
                                                   "status": "not_found"})
            return []
        say(dispatcher, lang, "order_status", order_id=order.order_id,
                                 status_text=status_text(catalog, order, lang),
                                 custom=with_display_names(order.as_payload(), catalog, lang))
        return []


class ActionReturnPolicy(ShopAction):
    """The return policy; for a given order, whether it can still be returned."""

    def name(self) -> Text:
        return "action_return_policy"

    async def answer(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                     ctx: Context) -> List[Dict[Text, Any]]:
        catalog, lang = get_catalog(), ctx.language
        policy = catalog.policy(f"return_policy_{lang}") or ""
        days = int(catalog.policy("return_days", "7") or 7)
        payload = {"type": "return_policy", "return_days": days,
                   "return_shipping_insurance": catalog.policy("return_shipping_insurance")
                   == "1"}
        order_id, order = find_order(tracker, catalog) if latest_entities(
            tracker, "order_id") else (None, None)
        if order is None:
            say(dispatcher, lang, "return_policy", policy=policy,
                                     custom=payload)
            return []
        payload["order_id"] = order.order_id
        at = now()
        if order.status == "delivered" and order.delivered_at:
            delivered = datetime.fromisoformat(order.delivered_at).date()
            last = delivered + timedelta(days=days)
            ok = at.date() <= last
            payload.update(returnable=ok, return_until=last.isoformat())
            verdict = ((f"签收于{short_date(delivered, lang)}，{short_date(last, lang)}前都可以申请退货～"
                        if ok else f"签收于{short_date(delivered, lang)}，已超过{days}天无理由退货期，"
                        "质量问题仍可联系客服处理。") if lang == "zh" else
                       (f"delivered {short_date(delivered, lang)}; you can return it until "
                        f"{short_date(last, lang)}." if ok else
                        f"delivered {short_date(delivered, lang)}, past the {days}-day window; "
                        "for quality problems our team can still help."))
        elif order.status in ("paid", "pending_payment", "shipped"):
            payload["returnable"] = True
            verdict = ("还没签收，可以直接申请退款或拒收～" if lang == "zh" else
                       "not delivered yet: you can cancel for a refund or refuse the parcel.")
        else:
            payload["returnable"] = False
            verdict = STATUS_ZH.get(order.status, order.status) if lang == "zh" else \
                STATUS_EN.get(order.status, order.status)
        say(dispatcher, lang, "return_order", policy=policy,
                                 order_id=order.order_id, verdict=verdict,
                                 custom=payload)
        return []
