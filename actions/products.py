"""Product facts (material, fit, care, size advice from the size chart and the shopper's
height/weight or foot length), cross-sells and adding them to the cart.

Cross-sells (catalog.crosssell.recommend) are offered once per product per conversation
after a positive stock or shipping answer (`offer_crosssells`), never after the shopper
declined one, and on request (`ActionRecommend`). What was shown, clicked and added to the
cart is recorded (catalog.tracking)."""

from __future__ import annotations

import json
import re
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.settings import get_settings
from catalog.crosssell import Recommendation, recommend
from catalog.queries import Product
from catalog.tracking import CrosssellEvent, record_events

from .context import Context
from .stock import ProductAction, in_stock_summary
from .common import (ShopAction, say, get_catalog, join_list, latest_text, metadata_of, money,
                     now, render, variant_label)

CROSSSELLS = 3

_HEIGHT = [
    (re.compile(r"(1)\s*[米m]\s*(\d{1,2})(?!\d)"), lambda m: 100 + int(m.group(2)) * (
        10 if len(m.group(2)) == 1 else 1)),
    (re.compile(r"(1\.\d{1,2})\s*(?:m|米)(?![a-z])", re.I), lambda m: float(m.group(1)) * 100),
    (re.compile(r"(1\d{2})\s*(?:cm|厘米|公分)", re.I), lambda m: int(m.group(1))),
    (re.compile(r"(?:身高|高|height|tall)\D{0,4}(1\d{2})(?!\d)", re.I), lambda m: int(m.group(1))),
    (re.compile(r"(1\d{2})\s*(?:的个子|个子)", re.I), lambda m: int(m.group(1))),
]
_WEIGHT = [
    (re.compile(r"(\d{2,3}(?:\.\d)?)\s*(?:kg|公斤|千克|kilos?)", re.I), lambda m: float(m.group(1))),
    (re.compile(r"(\d{2,3})\s*斤"), lambda m: float(m.group(1)) / 2),
    (re.compile(r"(\d{2,3})\s*(?:lbs?|pounds)", re.I), lambda m: float(m.group(1)) * 0.4536),
    (re.compile(r"(?:体重|weigh\w*)\D{0,4}(\d{2,3})(?!\d)", re.I), lambda m: float(m.group(1))),
]
_FOOT = [
    (re.compile(r"(?:脚长|foot(?: length)?|feet)\D{0,6}(2\d(?:\.\d)?)\s*(?:cm|厘米)?", re.I),
     lambda m: float(m.group(1)) * 10),
    (re.compile(r"(2\d{2})\s*mm", re.I), lambda m: float(m.group(1))),
]


def parse_measurements(text: str) -> dict:
    """{"height_cm", "weight_kg", "foot_mm"} found in shopper text ("175cm 70kg",
    "1米75 140斤", "脚长26.5", "5'10" is not understood)."""
    out: dict = {}
    for key, rules in (("foot_mm", _FOOT), ("height_cm", _HEIGHT), ("weight_kg", _WEIGHT)):
        for rx, conv in rules:
            m = rx.search(text or "")
            if m:
                out[key] = conv(m)
                break
    if out.get("height_cm") and not 120 <= out["height_cm"] <= 220:
        out.pop("height_cm")
    if out.get("weight_kg") and not 25 <= out["weight_kg"] <= 200:
        out.pop("weight_kg")
    return out


def chart_text(chart: list[dict], lang: str, catalog) -> str:
    parts = []
    for r in chart:
        size = catalog.size_name(r["size"], lang)
        if r["height_min"] is not None:
            parts.append(f"{size} {r['height_min']}-{r['height_max']}cm/"
                         f"{r['weight_min']}-{r['weight_max']}kg")
        elif r["foot_min_mm"] is not None:
            parts.append(f"{size} {r['foot_min_mm']}-{r['foot_max_mm']}mm")
    return "；".join(parts) if lang == "zh" else "; ".join(parts)


class ActionProductDetails(ProductAction):
    """Material, fit and care; a size recommendation when measurements are given."""

    def name(self) -> Text:
        return "action_product_details"

    async def answer_for(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                         ctx: Context, product: Product) -> List[Dict[Text, Any]]:
        keep_language_for_buttons(tracker, ctx)
        catalog, lang = get_catalog(), ctx.language
        name = product.name(lang)
        text = latest_text(tracker)
        if text.startswith("/"):          # a "tell me more" button of a cross-sell
            track(tracker, "clicked", [product.product_id])
        m = parse_measurements(text)
        advice = catalog.size_advice(product.product_id, **m)
        fit = product.fit_zh if lang == "zh" else product.fit_en
        payload = {"type": "product_details", "product_id": product.product_id,
                   "material": product.material_zh if lang == "zh" else product.material_en,
                   "care": product.care_zh if lang == "zh" else product.care_en,
                   "fit": fit, "measurements": m,
                   "recommended_size": advice["size"] if advice else None}
        wants_size = bool(m) or re.search(r"码|尺码|尺寸|大小|偏大|偏小|size|fit|wear|穿", text,
                                          re.I)
        if wants_size and advice and advice["size"]:
            measure = self._measure_text(m, lang)
            say(dispatcher, lang, "size_advice", product=name,
                                     measure=measure,
                                     size=catalog.size_name(advice["size"], lang),
                                     fit=(f"版型：{fit}" if lang == "zh" else f"Fit: {fit}."),
                                     custom=payload)
            return [SlotSet("size", advice["size"])]
        if wants_size and advice and advice["chart"] and len(advice["chart"]) > 1:
            say(dispatcher, lang, "size_advice_none", product=name,
                                     chart=chart_text(advice["chart"], lang, catalog),
                                     custom=payload)
            return []
        if lang == "zh":
            details = (f"材质：{product.material_zh}；版型：{fit}；洗护：{product.care_zh}；"
                       f"价格¥{money(product.price)}")
        else:
            details = (f"material: {product.material_en}; fit: {fit}; care: "
                       f"{product.care_en}; price ¥{money(product.price)}")
        say(dispatcher, lang, "details", product=name, details=details,
                                 custom=payload)
        return []

    @staticmethod
    def _measure_text(m: dict, lang: str) -> str:
        parts = []
        if m.get("height_cm"):
            parts.append(f"{m['height_cm']:.0f}cm")
        if m.get("weight_kg"):
            parts.append(f"{m['weight_kg']:.0f}kg")
        if m.get("foot_mm"):
            parts.append(f"脚长{m['foot_mm']:.0f}mm" if lang == "zh" else
                         f"a {m['foot_mm']:.0f} mm foot")
        return (" ".join(parts)) if parts else ""


class ActionRecommend(ShopAction):
    """Cross-sells for the product in view, when the shopper asks for suggestions (even
    after declining offers: they asked)."""

    def name(self) -> Text:
        return "action_recommend"

    async def answer(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                     ctx: Context) -> List[Dict[Text, Any]]:
        catalog, lang = get_catalog(), ctx.language
        product = catalog.product(ctx.product)
        events = offer_crosssells(dispatcher, tracker, ctx, product, requested=True) \
            if product else []
        if not events:
            say(dispatcher, lang, "recommend_none")
        return events


class ActionAddToCart(ProductAction):
    """"Add to cart" (a cross-sell's button, or typed): picks the variant in stock, asking
    for the size or colour when several are, and tells the widget (custom `add_to_cart`)."""

    def name(self) -> Text:
        return "action_add_to_cart"

    async def answer_for(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                         ctx: Context, product: Product) -> List[Dict[Text, Any]]:
        keep_language_for_buttons(tracker, ctx)
        catalog, lang = get_catalog(), ctx.language
        pid, name = product.product_id, product.name(lang)
        answer = catalog.stock(pid, color=ctx.color, size=ctx.size)
        wanted = variant_label(catalog, answer.color, answer.size, lang)
        variant = (f" {wanted}" if lang == "en" else wanted) if wanted else ""
        in_stock = [v for v in answer.variants if v.available > 0]
        if not in_stock:
            say(dispatcher, lang, "add_to_cart_out", product=name, variant=variant)
            return []
        if len(in_stock) == 1:
            v = in_stock[0]
            label = variant_label(catalog, v.color, v.size, lang)
            say(dispatcher, lang, "add_to_cart_done", product=name,
                variant=(f" {label}" if lang == "en" else label) if label else "",
                price=money(product.price),
                custom={"type": "add_to_cart", "product_id": pid, "sku": v.sku,
                        "quantity": 1, "price": product.price, "currency": catalog.currency})
            track(tracker, "added_to_cart", [pid])
            return []
        by = "size" if len({v.size for v in in_stock}) > 1 else "color"
        listed, _ = in_stock_summary(catalog, answer, lang, by=by)
        known = {"product": pid}
        if answer.color:
            known["color"] = answer.color
        if answer.size:
            known["size"] = answer.size
        buttons, seen = [], set()
        for v in in_stock:
            key = v.size if by == "size" else v.color
            if key in seen:
                continue
            seen.add(key)
            title = catalog.size_name(key, lang) if by == "size" else \
                catalog.color_name(key, lang)
            buttons.append({"title": title, "payload": "/add_to_cart"
                            + json.dumps({**known, by: key}, ensure_ascii=False)})
        what = ("尺码" if by == "size" else "颜色") if lang == "zh" else \
            ("size" if by == "size" else "colour")
        say(dispatcher, lang, "add_to_cart_pick", product=name, what=what, in_stock=listed,
            buttons=buttons[:12])
        return []


# -- offering cross-sells ----------------------------------------------------------------------


def offer_crosssells(dispatcher: CollectingDispatcher, tracker: Tracker, ctx: Context,
                     product: Product, *, requested: bool = False) -> List[Dict[Text, Any]]:
    """Send up to 3 cross-sells for `product` as one extra message; return the slot events.

    Unless `requested`, nothing is offered after the shopper declined an offer, or when
    this product already had its offer in this conversation. Products already offered or
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
    names = join_list([i.name(lang) for i in items], lang)
    if requested:
        intro = (f"买{product.name(lang)}的亲们常搭配：{names}" if lang == "zh" else
                 f"Shoppers who buy {product.name(lang)} often add: {names}.")
        say(dispatcher, lang, "recommend", intro=intro, custom=payload,
            buttons=crosssell_buttons(items, lang))
    else:
        say(dispatcher, lang, "crosssell_offer", product=product.name(lang), items=names,
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
        buttons.append({"title": render("crosssell_more_button", lang, name=i.name(lang)),
                        "payload": f"/product_details{arg}"})
        buttons.append({"title": render("crosssell_cart_button", lang, name=i.name(lang)),
                        "payload": f"/add_to_cart{arg}"})
    return buttons


def keep_language_for_buttons(tracker: Tracker, ctx: Context) -> None:
    """A button's payload ("/add_to_cart{...}") is not the shopper's words: answer in the
    language of the conversation so far, not in the payload's English."""
    if not latest_text(tracker).startswith("/"):
        return
    before = tracker.get_slot("language")
    if before in ("zh", "en") and before != ctx.language:
        ctx.language = before
        ctx.changed.pop("language", None)


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
    customer = metadata_of(tracker).get("customer_id")
    record_events(get_settings().catalog_path, [
        CrosssellEvent(tracker.sender_id, str(customer) if customer else None, pid,
                       for_product_id or offer_for(tracker, pid), event)
        for pid in product_ids], now())
