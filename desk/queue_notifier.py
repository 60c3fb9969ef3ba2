"""Keeps queued shoppers and the agents up to date on the queue.

What a queued shopper is told is their place ("you are next", "there are 2 people ahead of
you") and the estimated wait ("about 4 min", "under a minute"), both recomputed from live
figures (desk/routing.py `queue_estimates`: the agents present for their language, their
free places, the measured handling time, the time that has passed), or, when nobody who
speaks their language is present, that nobody is and what they can do instead (leave a
message, keep chatting with the assistant).

`QueueNotifier` owns the queue state of this desk process: what each queued shopper was
last told. `push()` recomputes the queue and sends a `status` event to every queued
shopper whose words would change (their place, the minutes, nobody present), in their
language, and the queue to every agent's console. The service calls it after every change
and on its timer (desk/service.py `tick`), so a stale estimate never stands while time
passes. The Hub (desk/hub.py) only carries the events.
"""

from __future__ import annotations

import math
from typing import Optional

from .hub import Hub
from .store import DeskStore
from .texts import TEXTS


def shown_figures(estimate: dict) -> tuple:
    """What the shopper reads of an estimate: (position, the wait as words key, nobody
    present). Two estimates that read the same are not pushed again."""
    wait = estimate.get("estimated_wait_s")
    if not estimate.get("agents_online"):
        return estimate["position"], None, True
    if wait is None:
        shown = None
    elif wait < 60:
        shown = 0
    else:
        shown = math.ceil(wait / 60)
    return estimate["position"], shown, False


def queue_status(lang: str, estimate: dict) -> str:
    """The queue in words ("you are next, and the wait is about 4 min" / "您是下一位，预计
    等待约4分钟"), or, with nobody present for the language, that and the shopper's
    choices (leave a message, keep chatting with the assistant)."""
    position, minutes, nobody = shown_figures(estimate)
    if nobody:
        return TEXTS.render("queue_nobody_online", lang)
    if position <= 1:
        place = TEXTS.render("queue_place_next", lang)
    elif position == 2:
        place = TEXTS.render("queue_place_one_ahead", lang)
    else:
        place = TEXTS.render("queue_place_ahead", lang, ahead=position - 1)
    if minutes is None:
        wait = TEXTS.render("queue_wait_unknown", lang)
    elif minutes == 0:
        wait = TEXTS.render("queue_wait_under_minute", lang)
    else:
        wait = TEXTS.render("queue_wait_minutes", lang, minutes=minutes)
    return TEXTS.render("queue_status", lang, place=place, wait=wait)


def queued_text(lang: str, estimate: dict, key: str = "queued") -> str:
    """A queue notice in the shopper's language: `queued` (joined the queue, and every
    update), `queue_answered` (after the assistant answered a queued shopper),
    `queue_noted` (a question kept for the agent), `queue_already` (asked for a person
    again)."""
    return TEXTS.render(key, lang, status=queue_status(lang, estimate))


def queue_payload(estimate: dict) -> dict:
    """The queue's figures as a notice or status event carries them; `contact_form`
    when nobody is present for the shopper's language (the widget offers the contact
    form)."""
    out = {"position": estimate["position"],
           "estimated_wait_s": estimate.get("estimated_wait_s"),
           "agents_online": estimate.get("agents_online", 0)}
    if not out["agents_online"]:
        out["contact_form"] = True
    return out


class QueueNotifier:
    def __init__(self, store: DeskStore, hub: Hub):
        self.store = store
        self.hub = hub
        self.told: dict[str, tuple] = {}    # conversation_id -> shown_figures

    async def queued(self, conversation_id: str, estimate: dict, lang: str) -> None:
        """A shopper has just joined the queue (and was told so in a system message):
        their status event, and the figures remembered."""
        self.told[conversation_id] = shown_figures(estimate)
        await self.hub.to_shopper(conversation_id, {
            "type": "status", "state": "queued", "queue": queue_payload(estimate),
            "text": queued_text(lang, estimate)})

    def left(self, conversation_id: str) -> None:
        """A conversation left the queue (an agent took it)."""
        self.told.pop(conversation_id, None)

    async def estimate(self, conversation_id: str) -> Optional[dict]:
        """{"position", "estimated_wait_s", "agents_online"} of a queued conversation,
        None otherwise."""
        return (await self.store.conversations.queue_estimates()).get(conversation_id)

    async def push(self, agents: bool = True) -> None:
        """Places and waits to every queued shopper whose words changed, and (unless
        `agents` is false: the timer's refresh) the queue to the agents."""
        conversations = self.store.conversations
        estimates = await conversations.queue_estimates()
        for cid in [c for c in self.told if c not in estimates]:
            del self.told[cid]
        for cid, est in estimates.items():
            figures = shown_figures(est)
            if self.told.get(cid) == figures:
                continue
            self.told[cid] = figures
            if self.hub.has_shopper(cid):
                conv = await conversations.get(cid)
                await self.hub.to_shopper(cid, {
                    "type": "status", "state": "queued", "queue": queue_payload(est),
                    "text": queued_text(conv["locale"], est)})
        if agents and self.hub.has_agents():
            await self.hub.to_all_agents({"type": "queue",
                                          "queue": await conversations.queue()})
