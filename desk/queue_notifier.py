"""Keeps queued shoppers and the agents up to date on the queue.

What a queued shopper is told is their place ("you are next", "there are 2 people ahead of
you") and the estimated wait ("about 4 min", "under a minute"), both recomputed from live
figures (desk/routing.py `queue_estimates`: the agents present for their language, their
free places, the measured handling time, the time that has passed), or, when nobody who
speaks their language is present, that nobody is and what they can do instead (leave a
message, keep chatting with the assistant).

`QueueNotifier` tells queued shoppers their figures. `push()` recomputes the queue and
sends a `status` event to every queued shopper whose words would change (their place, the
minutes, nobody present), in their language, and the queue to every agent's console. The
service calls it after every change, on whichever replica made it, and on the leader's
timer (desk/service.py `tick`), so a stale estimate never stands while time passes. What
each shopper was last told is kept by the coordination (desk/coordination.py: in memory
for one desk process, in Redis for several replicas) and changed only under its queue
lock, together with the reading of the queue and the sending: so the same figures are
never told twice, by one replica or by two, and figures computed later are never
overtaken by older ones. A shopper's first figures are told once, by whichever comes
first: the handoff's own `queued()` notice, or a `push()` (the timer's, say) that ran
between the handoff's commit and that notice. The Hub (desk/hub.py) only carries the
events.
"""

from __future__ import annotations

import asyncio
import math
from typing import Optional

from .coordination import Coordination
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
    def __init__(self, store: DeskStore, hub: Hub,
                 coordination: Optional[Coordination] = None):
        self.store = store
        self.hub = hub
        self.coordination = coordination or Coordination()
        self._next: Optional[asyncio.Future] = None     # the run callers now wait for
        self._next_agents = False
        self._runner: Optional[asyncio.Task] = None

    async def queued(self, conversation_id: str, estimate: dict, lang: str) -> None:
        """A shopper has just joined the queue (and was told so in a system message):
        their status event, unless a `push` already told them their first figures."""
        coordination = self.coordination
        async with coordination.queue_lock():
            if not await coordination.tell_first(conversation_id, shown_figures(estimate)):
                return
            await self.hub.to_shopper(conversation_id, {
                "type": "status", "state": "queued", "queue": queue_payload(estimate),
                "text": queued_text(lang, estimate)})

    async def left(self, conversation_id: str) -> None:
        """A conversation left the queue (an agent took it)."""
        async with self.coordination.queue_lock():
            await self.coordination.forget(conversation_id)

    async def estimate(self, conversation_id: str) -> Optional[dict]:
        """{"position", "estimated_wait_s", "agents_online"} of a queued conversation,
        None otherwise."""
        return (await self.store.conversations.queue_estimates()).get(conversation_id)

    async def push(self, agents: bool = True) -> None:
        """Places and waits to every queued shopper whose words changed, and (unless
        `agents` is false: the timer's refresh) the queue to the agents. Returns once a
        run that began after the call has ended; calls that come while one runs share
        the next run (under a burst of handoffs the queue is read a few times, not once
        per call)."""
        if self._next is None:
            self._next = asyncio.get_running_loop().create_future()
        self._next_agents = self._next_agents or agents
        waiting_for = self._next
        if self._runner is None or self._runner.done():
            self._runner = asyncio.ensure_future(self._run())
        await asyncio.shield(waiting_for)

    async def _run(self) -> None:
        while self._next is not None:
            done, agents = self._next, self._next_agents
            self._next, self._next_agents = None, False
            try:
                await self._push_once(agents)
            except Exception as exc:                # noqa: BLE001 - each caller gets it
                done.set_exception(exc)
                done.exception()                    # retrieved: no warning when unawaited
            else:
                done.set_result(None)

    async def _push_once(self, agents: bool) -> None:
        conversations = self.store.conversations
        coordination = self.coordination
        async with coordination.queue_lock():
            estimates = await conversations.queue_estimates()
            told = await coordination.told()
            await coordination.forget(*[c for c in told if c not in estimates])
            for cid, est in estimates.items():
                figures = shown_figures(est)
                if told.get(cid) == figures:
                    continue
                await coordination.tell(cid, figures)
                if self.hub.has_shopper(cid):
                    conv = await conversations.get(cid)
                    await self.hub.to_shopper(cid, {
                        "type": "status", "state": "queued", "queue": queue_payload(est),
                        "text": queued_text(conv["locale"], est)})
        if agents and self.hub.has_agents():
            await self.hub.to_all_agents({"type": "queue",
                                          "queue": await conversations.queue()})
