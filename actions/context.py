"""What a shopper's latest message means for the conversation's context: the language they
write in, the product they are talking about (named, or the product page they are on), and
a size or colour that no longer applies because the product changed.

Every action computes the context itself (a pure function of the conversation so far and
the latest message) and returns it as slot events, so no extra round trip to the action
server is needed per message; all actions of one turn compute the same context.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet

from bot.settings import get_settings

from .common import detect_language, get_catalog, latest_entities, metadata_of

CONTEXT_SLOTS = ("language", "product", "page_product", "category", "size", "color")


def slot_before_latest_message(tracker: Tracker, name: str) -> Any:
    """A slot's value as it was before the latest shopper message."""
    events = tracker.events or []
    last_user = max((i for i, e in enumerate(events) if e.get("event") == "user"),
                    default=len(events))
    value = None
    for e in events[:last_user]:
        if e.get("event") == "slot" and e.get("name") == name:
            value = e.get("value")
        elif e.get("event") == "restart":
            value = None
    return value


@dataclass
class Context:
    language: str
    product: Optional[str]
    page_product: Optional[str]
    category: Optional[str]
    size: Optional[str]
    color: Optional[str]
    changed: dict = field(default_factory=dict)

    def slot_events(self) -> list:
        return [SlotSet(k, v) for k, v in self.changed.items()]


def page_product_of(tracker: Tracker) -> Optional[str]:
    page = metadata_of(tracker).get("page") or {}
    if isinstance(page, dict) and page.get("product_id"):
        return str(page["product_id"])
    return None


def context_of(tracker: Tracker) -> Context:
    """The conversation's context after the latest message (see the module docstring)."""
    msg = tracker.latest_message or {}
    entities = msg.get("entities") or []
    catalog = get_catalog()

    spans = [(e.get("start", 0), e.get("end", 0)) for e in entities
             if e.get("entity") in ("product", "city", "order_id", "size", "color")
             and e.get("start") is not None]
    lang = detect_language(str(msg.get("text") or ""), spans)
    if lang is None:
        locale = str(metadata_of(tracker).get("locale") or "")[:2].lower()
        previous = slot_before_latest_message(tracker, "language")
        lang = previous or (locale if locale in ("zh", "en") else None) \
            or get_settings().default_language

    page = page_product_of(tracker)
    if page and catalog.product(page) is None:
        page = None
    prev_page = slot_before_latest_message(tracker, "page_product")
    prev_product = slot_before_latest_message(tracker, "product")
    named = [p for p in latest_entities(tracker, "product") if catalog.product(p)]
    categories = latest_entities(tracker, "category")
    product: Optional[str] = prev_product
    if named:
        product = named[-1]
    elif categories:
        # "do you have running shoes?": about the page's product if it is one, else
        # about the category, not the product talked of before
        current = catalog.product(page or prev_product)
        product = current.product_id if current and current.category in categories \
            else None
    elif page and page != prev_page:
        product = page          # the shopper moved to another product page
    elif not prev_product and page:
        product = page

    size, color = tracker.get_slot("size"), tracker.get_slot("color")
    if product != prev_product:
        if not latest_entities(tracker, "size"):
            size = None
        if not latest_entities(tracker, "color"):
            color = None
    category = categories[-1] if categories else tracker.get_slot("category")
    ctx = Context(lang, product, page or prev_page, category, size, color)
    for name in CONTEXT_SLOTS:
        if getattr(ctx, name) != tracker.get_slot(name):
            ctx.changed[name] = getattr(ctx, name)
    return ctx
