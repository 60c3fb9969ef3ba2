"""Price and discount questions, answered from the catalog's prices and promotions.

A discount question may name the figure the shopper wants ("能打8折吗", "85折行不行",
"can you do 20% off?"); `requested_discount_pct` reads it as a percentage off, and the
answer carries it (`requested_discount_pct` in the `discount` payload) beside what an agent
may grant (`max_agent_discount_pct`), so that the desk can decide whether a person must
answer without reading the shopper's words again.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from catalog.queries import Product

from .base import (TEXTS, Context, ProductAction, ShopAction, free_shipping_phrase,
                   get_catalog, latest_text, money, say)

# "10% off", "15 percent off", "20 per cent", "5 pct" (not the "00%" of "100% cotton")
_PERCENT = re.compile(r"(?<![\d.])(\d{1,2}(?:\.\d+)?)\s*(?:%|％|percent|per\s+cent|pct)",
                      re.I)
# "打8折", "85折", "8.5折", "九折", "八五折", "两折": the share of the price paid, in tenths
_ZHE = re.compile(r"(?<![\d.])([0-9一二两三四五六七八九]{1,2}(?:\.[0-9])?)\s*折")
# "打对折", "半价", "half price", "half off": 50% off
_HALF = re.compile(r"对折|半价|half\s*price|half\s*off", re.I)


def _digit(ch: str) -> str:
    """"8" → "8", "八" → "8" (两 is 二)."""
    return str(int(unicodedata.numeric(re.sub("两", "二", ch)))) if not ch.isascii() else ch


def requested_discount_pct(text: str) -> Optional[float]:
    """The discount a shopper asks for, in percent off: "打8折" → 20, "85折" → 15,
    "九折" → 10, "10% off" → 10, "15 percent off" → 15, "打对折" → 50; None when no
    figure is named ("有优惠吗", "能便宜点吗")."""
    text = text or ""
    m = _PERCENT.search(text)
    if m:
        value = float(m.group(1))
        return value if 0 < value < 100 else None
    m = _ZHE.search(text)
    if m:
        digits = "".join(_digit(ch) for ch in m.group(1))
        tenths = float(digits)
        if "." not in digits and len(digits) == 2:       # 85折 = 8.5折 ("10折" is nothing)
            tenths = tenths / 10 if digits[1] != "0" else 0
        if 0 < tenths < 10:
            return round(100 - tenths * 10, 2)
        return None
    if _HALF.search(text):
        return 50.0
    return None


class ActionPrice(ProductAction):
    """The product's price (contract payload `price`), with the running promotion."""

    def name(self) -> Text:
        return "action_price"

    async def answer_for(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                         ctx: Context, product: Product) -> List[Dict[Text, Any]]:
        catalog, lang = get_catalog(), ctx.language
        payload = catalog.price(product.product_id)
        payload["name"] = product.name(lang)
        say(dispatcher, lang, "price", product=product.name(lang),
            price=money(product.price), promo=catalog.policy(f"discount_policy_{lang}") or "",
            free_shipping=free_shipping_phrase(catalog, lang), custom=payload)
        return []


class ActionDiscount(ShopAction):
    """The shop's promotions; what the product costs after them when one is in view; the
    discount the shopper asked for, if they named one (payload `requested_discount_pct`)."""

    def name(self) -> Text:
        return "action_discount"

    async def answer(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                     ctx: Context) -> List[Dict[Text, Any]]:
        catalog, lang = get_catalog(), ctx.language
        policy = catalog.policy(f"discount_policy_{lang}") or ""
        product = catalog.product(ctx.product)
        line = ""
        payload: dict = {"type": "discount", "policy": policy,
                         "max_agent_discount_pct": catalog.policy("max_agent_discount_pct"),
                         "requested_discount_pct": requested_discount_pct(latest_text(tracker))}
        if product is not None:
            payload.update(product_id=product.product_id, price=product.price,
                           currency=catalog.currency)
            line = TEXTS.render("discount_product", lang, product=product.name(lang),
                                price=money(product.price))
        say(dispatcher, lang, "discount", policy=policy, product_line=line, custom=payload)
        return []
