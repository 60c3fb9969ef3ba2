"""Product facts (material, fit, care, size advice from the size chart and the shopper's
height/weight or foot length) and related-product suggestions."""

from __future__ import annotations

import re
from typing import Any, Dict, List, Text

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from catalog.crosssell import related_products

from catalog.queries import Product

from .context import Context
from .stock import ProductAction
from .common import ShopAction, say, get_catalog, join_list, latest_text, money

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
        catalog, lang = get_catalog(), ctx.language
        name = product.name(lang)
        text = latest_text(tracker)
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
    """Products bought together with the one in view (in stock, one per category)."""

    def name(self) -> Text:
        return "action_recommend"

    async def answer(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                     ctx: Context) -> List[Dict[Text, Any]]:
        catalog, lang = get_catalog(), ctx.language
        product = catalog.product(ctx.product)
        offered = set(tracker.get_slot("offered_products") or [])
        items = related_products(catalog, product.product_id, k=3, exclude=offered) \
            if product else []
        if not items:
            say(dispatcher, lang, "recommend_none")
            return []
        reason = "经常一起购买" if lang == "zh" else "often bought together"
        intro = (f"买{product.name(lang)}的亲们常搭配：{join_list([i.name(lang) for i in items], lang)}"
                 if lang == "zh" else
                 f"Shoppers who buy {product.name(lang)} often add: "
                 f"{join_list([i.name(lang) for i in items], lang)}.")
        payload = {"type": "recommendations", "for_product_id": product.product_id,
                   "items": [{"product_id": i.product_id, "name": i.name(lang),
                              "price": i.price, "reason": reason} for i in items]}
        say(dispatcher, lang, "recommend", intro=intro, custom=payload,
            buttons=[{"title": (f"看看{i.name(lang)}" if lang == "zh" else
                                f"Tell me about {i.name(lang)}"),
                      "payload": f'/product_details{{"product": "{i.product_id}"}}'}
                     for i in items])
        return [SlotSet("offered_products", sorted(offered | {i.product_id for i in items}))]
