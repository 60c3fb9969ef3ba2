"""Offering cross-sells in the conversation (docs/crosssell.md).

Cross-sells (catalog.crosssell.recommend) are offered once per product per conversation
after a positive stock or shipping answer (`offer_crosssells`), never after the shopper
declined one, and on request (`ActionRecommend`). What was shown, clicked and added to the
cart is recorded (`track`, catalog.tracking).
"""

from __future__ import annotations

import json
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.settings import get_settings
from catalog.crosssell import Recommendation, recommend
from catalog.queries import Product
from catalog.tracking import CrosssellEvent, record_events

from .base import (TEXTS, Context, ShopAction, customer_of, get_catalog, join_list,
                   metadata_of, now, say)

CROSSSELLS = 3


def offer_crosssells(dispatcher: CollectingDispatcher, tracker: Tracker, ctx: Context,
                     product: Product, *, requested: bool = False) -> List[Dict[Text, Any]]:
    """Send up to 3 cross-sells for `product` as one extra message; return the slot events.

    Unless `requested` (the shopper asked for suggestions), nothing is offered after the
    shopper declined an offer, or when this product already had its offer in this
    conversation: that is the offer after a positive answer. Products already offered or
    in the cart are never offered again.
    """
    offered = list(tracker.get_slot("offered_products") or [])
    offered_for = list(tracker.get_slot("crosssell_offered_for") or [])
    if not requested and (tracker.get_slot("crosssell_declined")
                          or product.product_id in offered_for):
        return []
    catalog, lang = get_catalog(), ctx.language
    items = recommend(catalog, [product.product_id], lang, k=CROSSSELLS,
                      exclude=set(offered) | cart_products(tracker))
    if not items:
        return []
    payload = {"type": "recommendations", "for_product_id": product.product_id,
               "items": [i.as_item(lang) for i in items]}
    say(dispatcher, lang, "recommend" if requested else "crosssell_offer",
        product=product.name(lang), items=join_list([i.name(lang) for i in items], lang),
        custom=payload, buttons=crosssell_buttons(items, lang))
    track(tracker, "shown", [i.product_id for i in items], for_product_id=product.product_id)
    return [SlotSet("offered_products", sorted(set(offered) | {i.product_id for i in items})),
            SlotSet("crosssell_offered_for",
                    offered_for + [product.product_id]
                    if product.product_id not in offered_for else offered_for)]


def crosssell_buttons(items: List[Recommendation], lang: str) -> list:
    """"Tell me more" and "add to cart" for each item (payloads: docs/crosssell.md)."""
    buttons = []
    for i in items:
        arg = json.dumps({"product": i.product_id})
        buttons.append({"title": TEXTS.render("crosssell_more_button", lang,
                                              name=i.name(lang)),
                        "payload": f"/product_details{arg}"})
        buttons.append({"title": TEXTS.render("crosssell_cart_button", lang,
                                              name=i.name(lang)),
                        "payload": f"/add_to_cart{arg}"})
    return buttons


def cart_products(tracker: Tracker) -> set:
    """Product ids (or SKUs) in the shopper's cart, from the widget's metadata."""
    cart = metadata_of(tracker).get("cart") or []
    out = set()
    if isinstance(cart, list):
        for entry in cart:
            if isinstance(entry, str):
                out.add(entry)
            elif isinstance(entry, dict):
                out.update(str(entry[k]) for k in ("product_id", "sku") if entry.get(k))
    return out


def offer_for(tracker: Tracker, product_id: str) -> Optional[str]:
    """The product whose cross-sell offer (latest first) held `product_id`."""
    for e in reversed(tracker.events or []):
        if e.get("event") != "bot":
            continue
        custom = (e.get("data") or {}).get("custom") or {}
        if custom.get("type") == "recommendations" and any(
                i.get("product_id") == product_id for i in custom.get("items") or []):
            return custom.get("for_product_id")
    return None


def track(tracker: Tracker, event: str, product_ids: List[str], *,
          for_product_id: Optional[str] = None) -> None:
    """Record cross-sell events; clicks and cart adds only for products that were offered."""
    if event != "shown":
        offered = set(tracker.get_slot("offered_products") or [])
        product_ids = [p for p in product_ids if p in offered]
    if not product_ids:
        return
    customer = customer_of(tracker)       # a signed-in shopper's, never a bare claim
    record_events(get_settings().catalog_path, [
        CrosssellEvent(tracker.sender_id, customer, pid,
                       for_product_id or offer_for(tracker, pid), event)
        for pid in product_ids], now())


class ActionRecommend(ShopAction):
    """Cross-sells for the product in view, when the shopper asks for suggestions (even
    after declining offers: they asked)."""

    def name(self) -> Text:
        return "action_recommend"

    async def answer(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                     ctx: Context) -> List[Dict[Text, Any]]:
        product = get_catalog().product(ctx.product)
        events = offer_crosssells(dispatcher, tracker, ctx, product, requested=True) \
            if product else []
        if not events:
            say(dispatcher, ctx.language, "recommend_none")
        return events
