"""Shipping questions: when does it ship, when will it reach my city, which courier, free
shipping. Answers come from the catalog's cut-offs, handling days, rest days, holidays,
stock per warehouse and routes, at the shop's current time. An answer that a product ships
is followed by its cross-sells (once per product, see actions/crosssell.py). A shipping
question that names an order ("催发货 20261118000123") is about that order: the order
status action answers it. A place the shop does not deliver to ("能寄到东京吗", "do you
ship to London?", the catalog's `shipping_regions`) gets an honest answer naming it and
where the shop does deliver, never a dispatch estimate. Right after the returns answer, a
question about what shipping costs that names no place or product ("运费谁出", "who pays
the postage?") is about sending the return back: the returns answer says it.
"""

from __future__ import annotations

import re
from typing import Any, Dict, List, Text

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from catalog.shipping import WarehouseRules, ship_date_for

from .base import (TEXTS, Context, ShopAction, date_range, day_phrase, free_shipping_phrase,
                   get_catalog, join_clauses, join_list, latest_entities, latest_text, now,
                   say, variant_label, with_display_names)
from .crosssell import offer_crosssells
from .service import last_answer_kind

# what shipping costs and who pays it (not "包邮", free shipping on a purchase)
SHIPPING_COST = re.compile(
    r"运费|邮费|快递费|寄回|退回|谁出|谁付|谁承担|谁掏|"
    r"\b(shipping|postage|delivery|courier|return)\s+(fee|fees|cost|costs|charge|charges)\b|"
    r"\bpostage\b|\bwho\s+(pays|covers|will pay)\b|"
    r"\bpay\s+for\s+(the\s+)?(return|shipping|postage)",
    re.IGNORECASE)


def about_return_shipping(tracker: Tracker, ctx: Context) -> bool:
    """A question about what shipping costs, naming no place or product, right after the
    returns answer: the cost of sending the return back."""
    if ctx.place or any(latest_entities(tracker, name) for name in ("city", "product")):
        return False
    return (last_answer_kind(tracker, ("return_policy",)) == "return_policy"
            and SHIPPING_COST.search(latest_text(tracker)) is not None)


def delivery_phrase(catalog, city, early, late, lang: str) -> str:
    """"预计11月22日–11月24日送达成都。" / "Expected in Chengdu 22 Nov–24 Nov."."""
    if not (city and early and late):
        return ""
    return TEXTS.render("delivery", lang, city=catalog.city_name(city, lang),
                        window=date_range(early, late, lang))


class ActionShipping(ShopAction):
    """Dispatch date, delivery window to a city, courier and free-shipping threshold."""

    def name(self) -> Text:
        return "action_shipping"

    async def answer(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                     ctx: Context) -> List[Dict[Text, Any]]:
        if latest_entities(tracker, "order_id"):
            return await ShopAction.named("action_order_status").answer(dispatcher, tracker,
                                                                         ctx)
        if about_return_shipping(tracker, ctx):
            return await ShopAction.named("action_return_policy").answer(dispatcher, tracker,
                                                                          ctx)
        catalog, lang, at = get_catalog(), ctx.language, now()
        if ctx.place is not None and not ctx.place.served:
            return self._not_served(dispatcher, catalog, lang, ctx.place)
        today = at.date()
        city = catalog.resolve_city(ctx.city)
        free = free_shipping_phrase(catalog, lang)
        product = catalog.product(ctx.product)
        try:
            quantity = max(int(ctx.quantity or 1), 1)
        except (TypeError, ValueError):
            quantity = 1

        if product is None:
            return self._general(dispatcher, catalog, lang, at, city, free)

        color, size = ctx.color, ctx.size
        answer = catalog.ship_date(at, product_id=product.product_id, color=color,
                                   size=size, quantity=quantity, city=city)
        name = product.name(lang)
        variant = variant_label(catalog, catalog.resolve_color(color),
                                catalog.resolve_size(size), lang)
        payload = answer.as_payload()
        payload.update(name=name, free_shipping_threshold=catalog.free_shipping_threshold)
        with_display_names(payload, catalog, lang)
        if answer.ship_date is None:
            say(dispatcher, lang, "shipping_out", product=name,
                variant=variant, custom=payload)
            return []
        ship = day_phrase(answer.ship_date, today, lang)
        delivery = delivery_phrase(catalog, city, answer.delivery_earliest,
                                   answer.delivery_latest, lang)
        if answer.split:
            say(dispatcher, lang, "shipping_split", product=name,
                variant=variant, quantity=quantity, ship_phrase=ship,
                delivery=delivery, free_shipping=free,
                custom=payload)
            return offer_crosssells(dispatcher, tracker, ctx, product)
        say(dispatcher, lang, "shipping_product", product=name, variant=variant,
            ship_phrase=ship, warehouse=catalog.warehouse_name(answer.warehouse_id, lang),
            carrier=catalog.carrier_name(answer.carrier, lang), delivery=delivery,
            free_shipping=free, custom=payload)
        return offer_crosssells(dispatcher, tracker, ctx, product)

    @staticmethod
    def _not_served(dispatcher, catalog, lang, place) -> list:
        """"We only ship within mainland China, so not to London (the UK)"."""
        country = catalog.region(place.part_of)
        name = TEXTS.render("place_in_country", lang, place=place.name(lang),
                            country=country.name(lang)) if country else place.name(lang)
        served = catalog.served_regions()
        say(dispatcher, lang, "shipping_not_served", place=name,
            served=join_list([r.name(lang) for r in served], lang),
            custom={"type": "shipping", "served": False, "region": place.region,
                    "region_name": name, "part_of": place.part_of,
                    "served_regions": [r.region for r in served], "ship_date": None})
        return []

    @staticmethod
    def _general(dispatcher, catalog, lang, at, city, free) -> list:
        """No product in view: the warehouses' cut-offs and the fastest dispatch."""
        holidays = catalog.holidays()
        best = None
        cutoffs = []
        for wid, row in sorted(catalog.warehouses().items()):
            rules = WarehouseRules.from_row(row)
            d = ship_date_for(at, rules, holidays)
            window = catalog.delivery_window(wid, city, d) if city else None
            key = (window[2] if window else d, d)
            if best is None or key < best[0]:
                best = (key, wid, d, window)
            cutoffs.append(TEXTS.render("warehouse_cutoff", lang, cutoff=row["cutoff"],
                                        warehouse=catalog.warehouse_name(wid, lang)))
        _key, wid, d, window = best
        carrier = window[0] if window else catalog.warehouses()[wid].get("default_carrier")
        payload = {"type": "shipping", "product_id": None, "ship_date": d.isoformat(),
                   "carrier": carrier, "warehouse_id": wid,
                   "free_shipping_threshold": catalog.free_shipping_threshold}
        delivery = ""
        if window:
            payload.update(city=city, delivery_earliest=window[1].isoformat(),
                           delivery_latest=window[2].isoformat())
            delivery = delivery_phrase(catalog, city, window[1], window[2], lang)
        with_display_names(payload, catalog, lang)
        say(dispatcher, lang, "shipping_general", cutoffs=join_clauses(cutoffs, lang),
            ship_phrase=day_phrase(d, at.date(), lang),
            carrier=catalog.carrier_name(carrier, lang), delivery=delivery,
            free_shipping=free, custom=payload)
        return []
