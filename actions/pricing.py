"""Price and discount questions, answered from the catalog's prices and promotions."""

from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from catalog.queries import Product

from .base import (TEXTS, Context, ProductAction, ShopAction, free_shipping_phrase,
                   get_catalog, money, say)


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
    """The shop's promotions; what the product costs after them when one is in view."""

    def name(self) -> Text:
        return "action_discount"

    async def answer(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                     ctx: Context) -> List[Dict[Text, Any]]:
        catalog, lang = get_catalog(), ctx.language
        policy = catalog.policy(f"discount_policy_{lang}") or ""
        product = catalog.product(ctx.product)
        line = ""
        payload: dict = {"type": "discount", "policy": policy,
                         "max_agent_discount_pct": catalog.policy("max_agent_discount_pct")}
        if product is not None:
            payload.update(product_id=product.product_id, price=product.price,
                           currency=catalog.currency)
            line = TEXTS.render("discount_product", lang, product=product.name(lang),
                                price=money(product.price))
        say(dispatcher, lang, "discount", policy=policy, product_line=line, custom=payload)
        return []
