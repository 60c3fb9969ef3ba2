"""Service turns: handing over to a human, not understanding, yes and no.

A handoff is signalled with a `custom` payload of type `handoff` and its reason
("requested", "complaint", "repeated_fallback", "action_failure"); the desk acts on it.
"""

from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from .base import Context, FixedReply, ShopAction, handoff_payload, latest_intent, say

FALLBACKS_BEFORE_HANDOFF = 2


def consecutive_fallbacks(tracker: Tracker) -> int:
    """How many of the latest shopper messages in a row were not understood."""
    n = 0
    for e in reversed(tracker.events or []):
        if e.get("event") != "user":
            continue
        if ((e.get("parse_data") or {}).get("intent") or {}).get("name") == "nlu_fallback":
            n += 1
        else:
            break
    return n


class ActionHandoff(ShopAction):
    """Tells the shopper a person is coming and signals the handoff to the desk."""

    def name(self) -> Text:
        return "action_handoff"

    async def answer(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                     ctx: Context) -> List[Dict[Text, Any]]:
        lang = ctx.language
        if latest_intent(tracker) == "complaint":
            say(dispatcher, lang, "handoff_complaint",
                custom=handoff_payload("complaint"))
        else:
            say(dispatcher, lang, "handoff",
                custom=handoff_payload("requested"))
        return []


class ActionFallback(ShopAction):
    """First miss: say so and offer topics. Second miss in a row: hand over."""

    def name(self) -> Text:
        return "action_fallback"

    async def answer(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                     ctx: Context) -> List[Dict[Text, Any]]:
        lang = ctx.language
        if consecutive_fallbacks(tracker) >= FALLBACKS_BEFORE_HANDOFF:
            say(dispatcher, lang, "handoff",
                custom=handoff_payload("repeated_fallback"))
        else:
            say(dispatcher, lang, "fallback")
        return []


class ActionDecline(ShopAction):
    """"No thanks": acknowledge; after a cross-sell offer, offer nothing more in this
    conversation (slot crosssell_declined)."""

    def name(self) -> Text:
        return "action_decline"

    async def answer(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                     ctx: Context) -> List[Dict[Text, Any]]:
        lang = ctx.language
        say(dispatcher, lang, "decline_ack")
        if last_bot_turn_offered(tracker):
            return [SlotSet("crosssell_declined", True)]
        return []


def last_bot_turn_offered(tracker: Tracker) -> bool:
    """Whether the bot's messages just before the latest shopper message offered
    cross-sells (a `recommendations` payload): then a "no" declines them."""
    seen_latest_user = False
    for e in reversed(tracker.events or []):
        if e.get("event") == "user":
            if seen_latest_user:
                return False
            seen_latest_user = True
        elif e.get("event") == "bot" and seen_latest_user:
            custom = (e.get("data") or {}).get("custom") or {}
            if custom.get("type") == "recommendations":
                return True
    return False


class ActionAffirm(ShopAction):
    """"Yes/ok": acknowledge and invite the next question."""

    def name(self) -> Text:
        return "action_affirm"

    async def answer(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                     ctx: Context) -> List[Dict[Text, Any]]:
        lang = ctx.language
        say(dispatcher, lang, "ok")
        return []


class ActionGreet(FixedReply):
    """"亲 在吗" / "hi": welcome, and what the assistant can do."""

    text_key = "greet"


class ActionGoodbye(FixedReply):
    """"拜拜" / "bye"."""

    text_key = "goodbye"


class ActionThank(FixedReply):
    """"谢谢" / "thanks"."""

    text_key = "thank"


class ActionOutOfScope(FixedReply):
    """Anything a shop assistant cannot help with."""

    text_key = "out_of_scope"
