"""Service turns: handing over to a human, not understanding, yes and no.

A handoff is signalled with a `custom` payload of type `handoff` and its reason
("requested", "complaint", "repeated_fallback", "action_failure"); the desk acts on it.
The bot says nothing after its handoff notice in that turn (base.ShopAction closes an
open form).

A message is not understood when its intent is `nlu_fallback` (no intent was likely
enough) or `out_of_scope` and it is not a follow-up. The third such message in a row hands
the shopper to a person (`repeated_fallback`); after a clarifying question ("which product
/ size / colour / order?") the second already does, since the shopper is trying to answer
and failing.

A follow-up ("how about black", "ok what about shanghai", "what about taiwan", and the
correction "no, the black one" / "不对 要40码的") names something of the catalog (a
product, colour, size, city, quantity, or a place) right after a stock, shipping or price
answer: whether the classifier calls it not understood or a "no", it is the same question
again with what it restates (actions/base.py, `context_of`), and it is answered as such.
"""

from __future__ import annotations

import abc
import re
from typing import Any, Dict, Iterable, List, Optional, Text

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.settings import get_settings

from .base import (PENDING, Context, FixedReply, ShopAction, asks, handoff_payload,
                   latest_confidence, latest_entities, latest_intent, latest_text, say,
                   slot_before_latest_message, slot_before_message)

NOT_UNDERSTOOD = ("nlu_fallback", "out_of_scope")
MISSES_BEFORE_HANDOFF = 3
MISSES_AFTER_A_QUESTION = 2
# the answer a follow-up asks again, by the kind of facts the last answer carried
FOLLOW_UPS = {"stock": "action_check_stock", "shipping": "action_shipping",
              "price": "action_price"}
RESTATABLE = ("product", "color", "size", "city", "quantity")
MISSED = "missed_messages"


def user_messages(tracker: Tracker) -> int:
    """How many messages the shopper has sent (the latest is number `user_messages`)."""
    return sum(1 for e in tracker.events or [] if e.get("event") == "user")


def misses_in_a_row(tracker: Tracker) -> list[int]:
    """The numbers of the shopper's messages not understood in a row, the latest one
    included (slot `missed_messages` keeps the run so far; a message understood between
    them, a follow-up answered included, breaks it)."""
    latest = user_messages(tracker)
    run = [int(n) for n in tracker.get_slot(MISSED) or [] if str(n).isdigit()]
    if not run or run[-1] != latest - 1:
        run = []
    return run + [latest]


def should_hand_over(tracker: Tracker, run: list[int]) -> bool:
    """Whether the latest message not understood is one too many: the third in a row, or
    the second since the bot asked a clarifying question (slot `pending_question` before
    the first of them)."""
    if len(run) >= MISSES_BEFORE_HANDOFF:
        return True
    return len(run) >= MISSES_AFTER_A_QUESTION and bool(
        slot_before_message(tracker, PENDING, len(run)))


def follow_up_of(tracker: Tracker, ctx: Context) -> Optional[str]:
    """The action whose answer a message not understood asks again, if it is a follow-up:
    it names something of the catalog (or a place) and the bot's last answer before it
    was about stock, shipping or a price. A city or a place makes it a shipping question
    ("what about taiwan" after a stock answer)."""
    if not (ctx.place or any(latest_entities(tracker, name) for name in RESTATABLE)):
        return None
    kind = last_answer_kind(tracker, FOLLOW_UPS)
    if kind:
        if ctx.place or latest_entities(tracker, "city"):
            return "action_shipping"
        return FOLLOW_UPS[kind]
    return None


# a message that opens by taking back what was asked ("不对 我要40码的", "no, I meant the
# black one"): a correction, whatever else its words look like
CORRECTION = re.compile(r"^\W*(不对|不是|错了|搞错|说错|no\b|nope\b|not that|sorry,? i meant|"
                        r"i meant\b)", re.IGNORECASE)


def correction_of(tracker: Tracker, ctx: Context) -> Optional[str]:
    """The action a correction asks again, when the latest message opens as one and
    follows up a stock, shipping or price answer (`follow_up_of`)."""
    if not CORRECTION.match(latest_text(tracker)):
        return None
    return follow_up_of(tracker, ctx)


def last_answer_kind(tracker: Tracker, among: Iterable[str]) -> Optional[str]:
    """The kind of facts (`custom` type, one of `among`) of the bot's last answer of such a
    kind since the shopper's message before the latest one: what the latest message follows
    up (a stock answer's cross-sells, sent after it, are skipped)."""
    seen_latest = False
    for e in reversed(tracker.events or []):
        if e.get("event") == "user":
            if seen_latest:
                return None
            seen_latest = True
        elif e.get("event") == "bot" and seen_latest:
            kind = ((e.get("data") or {}).get("custom") or {}).get("type")
            if kind in among:
                return kind
    return None


class _NotUnderstood(ShopAction):
    """A message not understood: the action's own reply, or the handoff when it is one
    too many; a follow-up is answered instead. An open form stays open (it asks its
    question again) unless handed over."""

    keeps_open_form = True
    text_key = ""

    @abc.abstractmethod
    def name(self) -> Text:
        """The action's name."""

    async def answer(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                     ctx: Context) -> List[Dict[Text, Any]]:
        follow_up = follow_up_of(tracker, ctx)
        if follow_up:
            return await ShopAction.named(follow_up).answer(dispatcher, tracker, ctx)
        run = misses_in_a_row(tracker)
        if should_hand_over(tracker, run):
            say(dispatcher, ctx.language, "handoff",
                custom=handoff_payload("repeated_fallback"))
        else:
            say(dispatcher, ctx.language, self.text_key)
        return [SlotSet(MISSED, run)]


class ActionHandoff(ShopAction):
    """Tells the shopper a person is coming and signals the handoff to the desk."""

    def name(self) -> Text:
        return "action_handoff"

    async def answer(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                     ctx: Context) -> List[Dict[Text, Any]]:
        lang = ctx.language
        if latest_intent(tracker) == "complaint":
            if unsure_complaint(tracker):
                # "great, ordering now" read as a complaint at 0.53: ask before a person
                # is taken from the queue; a second complaint, a yes or the button hands over
                say(dispatcher, lang, "complaint_offer")
                return [asks("person")]
            say(dispatcher, lang, "handoff_complaint",
                custom=handoff_payload("complaint"))
        else:
            say(dispatcher, lang, "handoff",
                custom=handoff_payload("requested"))
        return []


def unsure_complaint(tracker: Tracker) -> bool:
    """A complaint read with less confidence than `complaint_sure`, unless the bot has just
    asked whether something is wrong (then any complaint hands over)."""
    return (latest_confidence(tracker) < get_settings().complaint_sure
            and slot_before_latest_message(tracker, PENDING) != "person")


class ActionFallback(_NotUnderstood):
    """Not understood: say so and offer topics; one too many: hand over."""

    text_key = "fallback"

    def name(self) -> Text:
        return "action_fallback"


class ActionDecline(ShopAction):
    """"No thanks": acknowledge; after a cross-sell offer, offer nothing more in this
    conversation (slot crosssell_declined). "No, the black one" / "不对，要40码的" after an
    answer is a correction: the same question again (a follow-up)."""

    def name(self) -> Text:
        return "action_decline"

    async def answer(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                     ctx: Context) -> List[Dict[Text, Any]]:
        follow_up = follow_up_of(tracker, ctx)
        if follow_up:
            return await ShopAction.named(follow_up).answer(dispatcher, tracker, ctx)
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
    """"Yes/ok": acknowledge and invite the next question; right after the bot asked
    whether something is wrong (a complaint it was not sure of), hand over."""

    def name(self) -> Text:
        return "action_affirm"

    async def answer(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                     ctx: Context) -> List[Dict[Text, Any]]:
        lang = ctx.language
        if slot_before_latest_message(tracker, PENDING) == "person":
            # "yes" to "is something wrong? shall I pass you to a person?"
            say(dispatcher, lang, "handoff_complaint", custom=handoff_payload("complaint"))
            return []
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


class ActionOutOfScope(_NotUnderstood):
    """Anything a shop assistant cannot help with; one too many: hand over."""

    text_key = "out_of_scope"

    def name(self) -> Text:
        return "action_out_of_scope"
