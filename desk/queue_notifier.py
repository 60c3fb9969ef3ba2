"""Keeps queued shoppers and the agents up to date on the queue.

`QueueNotifier` owns the queue state of this desk process: the figures (place, estimated
wait) each queued shopper was last told. `push()` recomputes the queue and sends a
`status` event to every queued shopper whose figures changed, in their language, and the
queue to every agent's console. The Hub (desk/hub.py) only carries the events.
"""

from __future__ import annotations

from typing import Optional

from .hub import Hub
from .store import DeskStore
from .texts import TEXTS


def queued_text(lang: str, estimate: dict) -> str:
    """The queue's notice in the shopper's language ("You are number 2 in the queue;
    the wait is about 3 min.")."""
    return TEXTS.render("queued", lang, position=estimate["position"],
                        minutes=max(1, round(estimate["estimated_wait_s"] / 60)))


class QueueNotifier:
    def __init__(self, store: DeskStore, hub: Hub):
        self.store = store
        self.hub = hub
        self.told: dict[str, tuple[int, int]] = {}    # conversation_id -> (place, wait)

    async def queued(self, conversation_id: str, estimate: dict) -> None:
        """A shopper has just joined the queue (and was told so in a system message):
        their status event, and the figures remembered."""
        self.told[conversation_id] = (estimate["position"], estimate["estimated_wait_s"])
        await self.hub.to_shopper(conversation_id, {"type": "status", "state": "queued",
                                                    "queue": estimate})

    def left(self, conversation_id: str) -> None:
        """A conversation left the queue (an agent took it)."""
        self.told.pop(conversation_id, None)

    async def estimate(self, conversation_id: str) -> Optional[dict]:
        """{"position", "estimated_wait_s"} of a queued conversation, None otherwise."""
        return (await self.store.conversations.queue_estimates()).get(conversation_id)

    async def push(self) -> None:
        """Places and waits to every queued shopper whose figures changed, and the queue
        to the agents."""
        conversations = self.store.conversations
        estimates = await conversations.queue_estimates()
        for cid in [c for c in self.told if c not in estimates]:
            del self.told[cid]
        for cid, est in estimates.items():
            figures = (est["position"], est["estimated_wait_s"])
            if self.told.get(cid) == figures:
                continue
            self.told[cid] = figures
            if self.hub.has_shopper(cid):
                conv = await conversations.get(cid)
                await self.hub.to_shopper(cid, {
                    "type": "status", "state": "queued", "queue": est,
                    "text": queued_text(conv["locale"], est)})
        if self.hub.has_agents():
            await self.hub.to_all_agents({"type": "queue",
                                          "queue": await conversations.queue()})
