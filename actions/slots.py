"""Slot upkeep after every shopper message: the language the shopper writes in, the
product the conversation is about (named, or the product page they are on), and
forgetting a size or colour that belonged to another product.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.settings import get_settings

from .common import (detect_language, get_catalog, latest_entities, metadata_of,
                     page_product_of)


def slot_before_latest_message(tracker: Tracker, name: str) -> Any:
    """A slot's value as it was before the latest shopper message."""
    events = tracker.events or []
    last_user = max((i for i, e in enumerate(events) if e.get("event") == "user"),
                    default=len(events))
    value = None
    for e in events[:last_user]:
        if e.get("event") == "slot" and e.get("name") == name:
            value = e.get("value")
        elif e.get("event") in ("restart", "session_started"):
            value = None if name != "language" else value
    return value


class ActionValidateSlotMappings(Action):
    """Runs after each message: sets language, product, page_product; resets variants."""

    def name(self) -> Text:
        return "action_validate_slot_mappings"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[Dict[Text, Any]]:
        msg = tracker.latest_message or {}
        entities = msg.get("entities") or []
        events: list = []

        spans = [(e.get("start", 0), e.get("end", 0)) for e in entities
                 if e.get("entity") in ("product", "city", "order_id", "size", "color")
                 and e.get("start") is not None]
        lang = detect_language(str(msg.get("text") or ""), spans)
        if lang is None:
            locale = str(metadata_of(tracker).get("locale") or "")[:2].lower()
            previous = slot_before_latest_message(tracker, "language")
            lang = previous or (locale if locale in ("zh", "en") else None) \
                or tracker.get_slot("language") or get_settings().default_language
        if lang != tracker.get_slot("language") or slot_before_latest_message(
                tracker, "language") is None:
            events.append(SlotSet("language", lang))

        catalog = get_catalog()
        page = page_product_of(tracker)
        if page and catalog.product(page) is None:
            page = None
        prev_page = slot_before_latest_message(tracker, "page_product")
        if page and page != prev_page:
            events.append(SlotSet("page_product", page))

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
        if product != tracker.get_slot("product") or product != prev_product:
            events.append(SlotSet("product", product))
        if categories:
            events.append(SlotSet("category", categories[-1]))
        if product != prev_product:
            if not latest_entities(tracker, "size"):
                events.append(SlotSet("size", None))
            if not latest_entities(tracker, "color"):
                events.append(SlotSet("color", None))
        return events
