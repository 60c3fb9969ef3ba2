"""Service turns: handing over to a human, not understanding, yes and no.

A handoff is signalled with a `custom` payload of type `handoff` and its reason
("requested", "complaint", "repeated_fallback", "action_failure"); the desk acts on it.
"""

from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from .common import guarded, handoff_payload, language_of, latest_intent, say

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


class ActionHandoff(Action):
    """Tells the shopper a person is coming and signals the handoff to the desk."""

    def name(self) -> Text:
        return "action_handoff"

    @guarded
    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[Dict[Text, Any]]:
        lang = language_of(tracker)
        if latest_intent(tracker) == "complaint":
            say(dispatcher, lang, "handoff_complaint",
                                     custom=handoff_payload("complaint"))
        else:
            say(dispatcher, lang, "handoff",
                                     custom=handoff_payload("requested"))
        return []


class ActionFallback(Action):
    """First miss: say so and offer topics. Second miss in a row: hand over."""

    def name(self) -> Text:
        return "action_fallback"

    @guarded
    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[Dict[Text, Any]]:
        lang = language_of(tracker)
        if consecutive_fallbacks(tracker) >= FALLBACKS_BEFORE_HANDOFF:
            say(dispatcher, lang, "handoff",
                                     custom=handoff_payload("repeated_fallback"))
        else:
            say(dispatcher, lang, "fallback")
        return []


class ActionDecline(Action):
    """"No thanks": acknowledge, and offer nothing more in this conversation."""

    def name(self) -> Text:
        return "action_decline"

    @guarded
    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[Dict[Text, Any]]:
        lang = language_of(tracker)
        say(dispatcher, lang, "decline_ack")
        if tracker.get_slot("offered_products"):
            return [SlotSet("crosssell_declined", True)]
        return []


class ActionAffirm(Action):
    """"Yes/ok": acknowledge and invite the next question."""

    def name(self) -> Text:
        return "action_affirm"

    @guarded
    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[Dict[Text, Any]]:
        lang = language_of(tracker)
        say(dispatcher, lang, "ok")
        return []
