"""What the desk replicas agree on outside the database: which replica leads the desk's
timer, which replica is answering a conversation now, and what each queued shopper was
last told of their place and wait.

- **The leader** runs the timer's shared work (desk/service.py `tick`: the presence
  sweep, the queue drain and refresh, the sweep for stranded shopper messages); every
  replica still marks its own agents' consoles as seen.
- **A conversation's lease** is held by the replica answering it, from before a shopper
  message is stored until that message's turn (and its drafts) are done; a replica that
  recovers or sweeps a conversation takes it first and only then reads what is left
  unanswered there. So a message is answered by the replica that stored it, or, once
  that one has finished or died, by the one that took the lease after it: never by two.
  Holds inside one process are counted: the process keeps the lease while any of its
  turns for the conversation is under way.
- **What was told** (desk/queue_notifier.py): the figures each queued shopper last read,
  changed only under `queue_lock`, so the replica that changed the queue and the
  leader's timer never both tell the same figures, and the figures go out in the order
  they were computed.

`Coordination` is one desk process on its own (no Redis): it always leads, its leases
and lock are in-process, and what was told is kept in memory. `RedisCoordination`
(`SHOPASSIST_REDIS_URL`) shares all three through Redis: the leader's lease and each
conversation's lease are `SET key owner NX PX ttl`, renewed by their holder every third
of `desk_lease_s` and given back with a compare-and-delete; one that is not renewed (its
replica died) lapses after `desk_lease_s`, and another replica takes it over. What was
told is a Redis hash; the queue lock a short lease of its own. Should Redis fail, a
replica goes on alone (it answers and tells without the shared state, logged) rather
than stop answering shoppers.

`coordination_for(settings)` is the one place that picks.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import os
import socket
import time
import uuid
from typing import AsyncIterator, Optional

logger = logging.getLogger(__name__)

PREFIX = "shopassist:desk:"
QUEUE_LOCK_TTL_S = 5.0          # the queue lock lapses this long after a holder died
LOCK_POLL_S = 0.005             # how often a waiting replica tries the queue lock again
LEASE_POLL_S = 0.05             # ... and a conversation's lease

# give back / renew a key only while it is still ours
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then" \
           " return redis.call('del', KEYS[1]) else return 0 end"
_RENEW = "if redis.call('get', KEYS[1]) == ARGV[1] then" \
         " return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end"


class _Hold:
    """This process's hold on one conversation's lease: how many of its turns use it,
    and the acquisition they all wait for."""

    def __init__(self) -> None:
        self.count = 0
        self.token: Optional[str] = None
        self.ready: Optional[asyncio.Future] = None


class Coordination:
    """One desk process on its own: it leads, its leases and lock are in-process, what
    was told is kept in memory (see the module docstring)."""

    def __init__(self, lease_s: float = 10.0) -> None:
        self.lease_s = lease_s
        self._told: dict[str, tuple] = {}
        self._queue_lock = asyncio.Lock()
        self._holds: dict[str, _Hold] = {}

    async def start(self) -> None:
        """Start leading (and renewing what is held)."""

    async def stop(self) -> None:
        """Stop leading; give back what is held."""

    def leads(self) -> bool:
        """Whether this replica runs the timer's shared work now."""
        return True

    # -- what queued shoppers were told ----------------------------------------------------
    @contextlib.asynccontextmanager
    async def queue_lock(self) -> AsyncIterator[None]:
        """Held around every change of what was told and the notices that follow it."""
        async with self._queue_lock:
            yield

    async def told(self) -> dict[str, tuple]:
        """conversation_id -> the figures last told (desk/queue_notifier.py
        `shown_figures`)."""
        return dict(self._told)

    async def tell(self, conversation_id: str, figures: tuple) -> None:
        self._told[conversation_id] = tuple(figures)

    async def tell_first(self, conversation_id: str, figures: tuple) -> bool:
        """Record the figures unless some were already told since the shopper joined
        the queue; whether they were recorded (and so are to be told)."""
        if conversation_id in self._told:
            return False
        self._told[conversation_id] = tuple(figures)
        return True

    async def forget(self, *conversation_ids: str) -> None:
        for cid in conversation_ids:
            self._told.pop(cid, None)

    # -- conversation leases ----------------------------------------------------------------
    def held(self, conversation_id: str) -> bool:
        """Whether this process holds the conversation's lease now (or is taking it)."""
        return conversation_id in self._holds

    async def hold(self, conversation_id: str, wait: bool = True) -> bool:
        """Take (or join this process's hold on) the conversation's lease; with `wait`
        until it is free, else only if it is free now. Whether it is held; every True
        needs its `release`."""
        entry = self._holds.get(conversation_id)
        if entry is None:
            entry = self._holds[conversation_id] = _Hold()
            entry.ready = asyncio.ensure_future(self._take(conversation_id, entry, wait))
        entry.count += 1
        try:
            got = await asyncio.shield(entry.ready)
        except BaseException:
            self._drop(conversation_id, entry)
            raise
        if not got:
            self._drop(conversation_id, entry)
        return got

    def release(self, conversation_id: str) -> None:
        """One use of the conversation's lease is over; the last gives it back."""
        entry = self._holds.get(conversation_id)
        if entry is not None:
            self._drop(conversation_id, entry)

    def _drop(self, conversation_id: str, entry: _Hold) -> None:
        entry.count -= 1
        if entry.count <= 0 and self._holds.get(conversation_id) is entry:
            del self._holds[conversation_id]
            if entry.token is not None:
                self._give_back(conversation_id, entry.token)

    async def _take(self, conversation_id: str, entry: _Hold, wait: bool) -> bool:
        entry.token = "local"
        return True

    def _give_back(self, conversation_id: str, token: str) -> None:
        """Give back a lease no turn of this process uses any more."""


class RedisCoordination(Coordination):
    """The same through Redis, for several replicas (see the module docstring)."""

    def __init__(self, url: str, lease_s: float = 10.0, prefix: str = PREFIX) -> None:
        super().__init__(lease_s)
        self.url = url
        self.prefix = prefix
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
        self._tokens = itertools.count(1)
        self._redis = None
        self._renewer: Optional[asyncio.Task] = None
        self._lead_until = 0.0            # monotonic time our leader's lease is sure until
        self._tasks: set[asyncio.Task] = set()

    @property
    def _ttl_ms(self) -> int:
        return max(1, int(self.lease_s * 1000))

    def _key(self, name: str) -> str:
        return self.prefix + name

    async def start(self) -> None:
        import redis.asyncio as aioredis

        self._redis = aioredis.Redis.from_url(self.url)
        self._release = self._redis.register_script(_RELEASE)
        self._renew = self._redis.register_script(_RENEW)
        await self._keep_up()
        self._renewer = asyncio.get_running_loop().create_task(self._keep_up_forever())

    async def stop(self) -> None:
        if self._renewer is not None:
            self._renewer.cancel()
            await asyncio.gather(self._renewer, return_exceptions=True)
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._redis is not None:
            try:
                await self._release(keys=[self._key("leader")], args=[self.owner])
                for cid, entry in list(self._holds.items()):
                    if entry.token:
                        await self._release(keys=[self._key(f"answering:{cid}")],
                                            args=[entry.token])
            except Exception as exc:              # noqa: BLE001 - they lapse anyway
                logger.warning("desk coordination: could not give back leases (%s)", exc)
            await self._redis.close()

    def leads(self) -> bool:
        return time.monotonic() < self._lead_until

    async def _keep_up_forever(self) -> None:
        while True:
            await asyncio.sleep(self.lease_s / 3)
            try:
                await self._keep_up()
            except asyncio.CancelledError:
                raise
            except Exception:                     # noqa: BLE001 - renewing must go on
                logger.exception("desk coordination: renewing the leases failed")

    async def _keep_up(self) -> None:
        """Renew (or try to take) the leader's lease, and renew every conversation lease
        this process holds."""
        import redis.exceptions

        asked = time.monotonic()
        try:
            key = self._key("leader")
            if self.leads():
                ours = await self._renew(keys=[key], args=[self.owner, self._ttl_ms])
            else:
                ours = await self._redis.set(key, self.owner, nx=True, px=self._ttl_ms)
            if ours:
                if not self.leads():
                    logger.info("desk coordination: this replica leads the timer")
                self._lead_until = asked + self.lease_s
            elif self.leads():
                logger.warning("desk coordination: lost the lead of the timer")
                self._lead_until = 0.0
            for cid, entry in list(self._holds.items()):
                if entry.token and entry.ready is not None and entry.ready.done() \
                        and not await self._renew(keys=[self._key(f"answering:{cid}")],
                                                  args=[entry.token, self._ttl_ms]):
                    logger.warning("desk coordination: the lease on %s lapsed while held",
                                   cid)
        except (redis.exceptions.RedisError, OSError) as exc:
            logger.warning("desk coordination: Redis unavailable (%s)", exc)

    # -- what queued shoppers were told ----------------------------------------------------
    @contextlib.asynccontextmanager
    async def queue_lock(self) -> AsyncIterator[None]:
        import redis.exceptions

        async with self._queue_lock:              # one waiter per process at a time
            key, token = self._key("queue-lock"), f"{self.owner}:q{next(self._tokens)}"
            got = False
            deadline = time.monotonic() + QUEUE_LOCK_TTL_S * 2
            try:
                while not got:
                    got = bool(await self._redis.set(key, token, nx=True,
                                                     px=int(QUEUE_LOCK_TTL_S * 1000)))
                    if not got:
                        if time.monotonic() > deadline:
                            raise TimeoutError("the queue lock stayed taken")
                        await asyncio.sleep(LOCK_POLL_S)
            except (redis.exceptions.RedisError, OSError, TimeoutError) as exc:
                logger.warning("desk coordination: queue lock unavailable (%s); telling "
                               "without it", exc)
            try:
                yield
            finally:
                if got:
                    try:
                        await self._release(keys=[key], args=[token])
                    except (redis.exceptions.RedisError, OSError) as exc:
                        logger.warning("desk coordination: queue lock not given back (%s)",
                                       exc)

    async def _shared(self, what: str, fallback, call):
        """A call on the shared record of what was told; `fallback` when Redis fails
        (this replica then tells as if alone)."""
        import redis.exceptions

        try:
            return await call
        except (redis.exceptions.RedisError, OSError) as exc:
            logger.warning("desk coordination: could not %s (%s)", what, exc)
            return fallback

    async def told(self) -> dict[str, tuple]:
        raw = await self._shared("read what was told", {},
                                 self._redis.hgetall(self._key("queue-told")))
        return {k.decode(): tuple(json.loads(v)) for k, v in raw.items()}

    async def tell(self, conversation_id: str, figures: tuple) -> None:
        await self._shared("record what was told", None, self._redis.hset(
            self._key("queue-told"), conversation_id, json.dumps(list(figures))))

    async def tell_first(self, conversation_id: str, figures: tuple) -> bool:
        return bool(await self._shared("record what was told", True, self._redis.hsetnx(
            self._key("queue-told"), conversation_id, json.dumps(list(figures)))))

    async def forget(self, *conversation_ids: str) -> None:
        if conversation_ids:
            await self._shared("forget what was told", None, self._redis.hdel(
                self._key("queue-told"), *conversation_ids))

    # -- conversation leases ----------------------------------------------------------------
    async def _take(self, conversation_id: str, entry: _Hold, wait: bool) -> bool:
        import redis.exceptions

        key = self._key(f"answering:{conversation_id}")
        token = f"{self.owner}:{next(self._tokens)}"
        try:
            while True:
                if await self._redis.set(key, token, nx=True, px=self._ttl_ms):
                    entry.token = token
                    if self._holds.get(conversation_id) is not entry:
                        self._give_back(conversation_id, token)   # its waiters left
                    return True
                if not wait:
                    return False
                await asyncio.sleep(LEASE_POLL_S)
        except (redis.exceptions.RedisError, OSError) as exc:
            if not wait:
                return False
            logger.warning("desk coordination: Redis unavailable (%s); answering %s "
                           "without its lease", exc, conversation_id)
            return True

    def _give_back(self, conversation_id: str, token: str) -> None:
        async def give_back() -> None:
            try:
                await self._release(keys=[self._key(f"answering:{conversation_id}")],
                                    args=[token])
            except Exception as exc:              # noqa: BLE001 - it lapses anyway
                logger.warning("desk coordination: lease on %s not given back (%s)",
                               conversation_id, exc)

        task = asyncio.get_running_loop().create_task(give_back())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def coordination_for(settings) -> Coordination:
    """Through Redis when `redis_url` is set, else this process alone."""
    if settings.redis_url:
        return RedisCoordination(settings.redis_url, lease_s=settings.desk_lease_s)
    return Coordination(lease_s=settings.desk_lease_s)
