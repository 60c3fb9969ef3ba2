"""Product facts (material, fit, care, size advice from the size chart and the shopper's
height/weight or foot length) and adding a product to the cart (a cross-sell's button, or
typed). Clicks on a cross-sell's "tell me more" and its cart adds are tracked
(actions/crosssell.py)."""

from __future__ import annotations

import json
import re
from typing import Any, Dict, List, Text

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from catalog.queries import Catalog, Product

from .base import (MAX_LISTED, TEXTS, Context, ProductAction, ShopAction, get_catalog,
                   in_stock_summary, join_clauses, join_list, keep_language_for_buttons,
                   latest_text, money, say, variant_label)
from .crosssell import track
from .service import correction_of

# the shopper asks about size or fit ("穿什么码", "does it run small?")
_ASKS_ABOUT_SIZE = re.compile(r"码|尺码|尺寸|大小|偏大|偏小|size|fit|wear|穿", re.I)

_HEIGHT = [
    (re.compile(r"(1)\s*[米m]\s*(\d{1,2})(?!\d)"), lambda m: 100 + int(m.group(2)) * (
        10 if len(m.group(2)) == 1 else 1)),
    (re.compile(r"(1\.\d{1,2})\s*(?:m|米)(?![a-z])", re.I), lambda m: float(m.group(1)) * 100),
    (re.compile(r"(1\d{2})\s*(?:cm|厘米|公分)", re.I), lambda m: int(m.group(1))),
    (re.compile(r"(?:身高|高|height|tall)\D{0,4}(1\d{2})(?!\d)", re.I), lambda m: int(m.group(1))),
    (re.compile(r"(1\d{2})\s*(?:的个子|个子)", re.I), lambda m: int(m.group(1))),
]
_WEIGHT = [
    (re.compile(r"(\d{2,3}(?:\.\d)?)\s*(?:kg|公斤|千克|kilos?)", re.I),
     lambda m: float(m.group(1))),
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


def chart_text(chart: list[dict], lang: str, catalog: Catalog) -> str:
    """A size chart as one line: "S（160-165cm/50-58kg）；M（…）" / "S 160-165cm/50-58kg; M …"."""
    rows = []
    for r in chart:
        size = catalog.size_name(r["size"], lang)
        if r["height_min"] is not None:
            rows.append(TEXTS.render("size_chart_body", lang, size=size,
                                     height_min=r["height_min"], height_max=r["height_max"],
                                     weight_min=r["weight_min"], weight_max=r["weight_max"]))
        elif r["foot_min_mm"] is not None:
            rows.append(TEXTS.render("size_chart_foot", lang, size=size,
                                     foot_min=r["foot_min_mm"], foot_max=r["foot_max_mm"]))
    return join_clauses(rows, lang)


def measure_text(m: dict, lang: str) -> str:
    """The measurements a shopper gave, as they read them ("175cm、70kg" / "175cm and 70kg")."""
    parts = [TEXTS.render(key, lang, value=f"{m[name]:.0f}")
             for name, key in (("height_cm", "measure_height"), ("weight_kg", "measure_weight"),
                               ("foot_mm", "measure_foot")) if m.get(name)]
    return join_list(parts, lang)


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
        wants_size = bool(m) or _ASKS_ABOUT_SIZE.search(text)
        if wants_size and advice and advice["size"]:
            say(dispatcher, lang, "size_advice", product=name, measure=measure_text(m, lang),
                size=catalog.size_name(advice["size"], lang),
                fit=TEXTS.render("size_advice_fit", lang, fit=fit) if fit else "",
                custom=payload)
            return [SlotSet("size", advice["size"])]
        if wants_size and advice and advice["chart"] and len(advice["chart"]) > 1:
            say(dispatcher, lang, "size_advice_none", product=name,
                chart=chart_text(advice["chart"], lang, catalog), custom=payload)
            return []
        facts = [TEXTS.render(f"detail_{fact}", lang, value=value) for fact, value in (
            ("material", payload["material"]), ("fit", fit), ("care", payload["care"]),
            ("price", money(product.price))) if value]
        say(dispatcher, lang, "details", product=name, details=join_clauses(facts, lang),
            custom=payload)
        return []


class ActionAddToCart(ProductAction):
    """"Add to cart" (a cross-sell's button, or typed): picks the variant in stock, asking
    for the size or colour when several are, then asks the widget to put it in the
    storefront's cart (custom `add_to_cart`); the widget confirms once the cart has it. A
    correction right after an answer ("不对 我要40码的") is that question again."""

    def name(self) -> Text:
        return "action_add_to_cart"

    async def answer(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                     ctx: Context) -> List[Dict[Text, Any]]:
        # "不对 我要40码的" right after a stock answer corrects the question asked; it puts
        # nothing in the cart (我要…的 reads as buying)
        again = correction_of(tracker, ctx)
        if again:
            return await ShopAction.named(again).answer(dispatcher, tracker, ctx)
        return await super().answer(dispatcher, tracker, ctx)

    async def answer_for(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                         ctx: Context, product: Product) -> List[Dict[Text, Any]]:
        keep_language_for_buttons(tracker, ctx)
        catalog, lang = get_catalog(), ctx.language
        pid, name = product.product_id, product.name(lang)
        answer = catalog.stock(pid, color=ctx.color, size=ctx.size)
        in_stock = [v for v in answer.variants if v.available > 0]
        if not in_stock:
            say(dispatcher, lang, "add_to_cart_out", product=name,
                variant=variant_label(catalog, answer.color, answer.size, lang))
            return []
        if len(in_stock) == 1:
            # a request to the storefront's cart: the widget carries it out and says
            # "added" only when the cart confirms (docs/widget.md), so no "done" here
            v = in_stock[0]
            variant = variant_label(catalog, v.color, v.size, lang)
            say(dispatcher, lang, "add_to_cart_adding", product=name, variant=variant,
                price=money(product.price),
                custom={"type": "add_to_cart", "product_id": pid, "sku": v.sku,
                        "quantity": 1, "price": product.price, "currency": catalog.currency,
                        "name": name, "variant": variant})
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
        say(dispatcher, lang, "add_to_cart_pick", product=name,
            what=TEXTS.render(f"variant_kind_{by}", lang), in_stock=listed,
            buttons=buttons[:MAX_LISTED])
        return []
