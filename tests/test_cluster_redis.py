"""The desk's shared state in Redis for several replicas (a real redis-server on a spare
port, tests/cluster_support.py): log-in limits (desk/login_limit.py's
`RedisLoginLimiter`: one budget for every replica; its rules are the memory version's,
checked on both in tests/test_desk_security.py), WebSocket events across replicas
(desk/hub.py's `RedisHub`: what one replica sends reaches the sockets another holds,
once, in order), and what replicas agree on (desk/coordination.py's `RedisCoordination`:
one leader, one holder of a conversation's lease, both taken over when they lapse; one
record of what queued shoppers were told)."""

from __future__ import annotations

import asyncio

import pytest

from desk.hub import RedisHub
from desk.login_limit import LoginPolicy, RedisLoginLimiter


async def test_replicas_share_one_budget(redis_url):
    """Two replicas' limiters: the account's 5 attempts a minute are 5 in all, not 5
    on each (in memory each replica would allow 5)."""
    policy = LoginPolicy(address_per_minute=1000, address_burst=1000,
                         account_per_minute=5, account_burst=5, lockout_after=3)
    a, b = RedisLoginLimiter(redis_url, policy), RedisLoginLimiter(redis_url, policy)
    waits = [await (a if i % 2 else b).admit("lily", f"10.0.0.{i}") for i in range(6)]
    assert waits[:5] == [0] * 5 and waits[5] > 0
    # failures counted on either lock the account on both
    assert [await a.failed("boss", "x"), await b.failed("boss", "y"),
            await a.failed("boss", "z")] == [0, 0, pytest.approx(30)]
    assert await b.admit("boss", "q") > 29
    await a.close()
    await b.close()


# -- events across replicas ------------------------------------------------------------------
class FakeSocket:
    """What the hub sends to: collects the events."""

    def __init__(self):
        self.closed = False
        self.events: list[dict] = []

    async def send_json(self, event, dumps=None):
        self.events.append(event)


async def _until(predicate, timeout_s=5.0):
    end = asyncio.get_running_loop().time() + timeout_s
    while not predicate():
        if asyncio.get_running_loop().time() > end:
            return False
        await asyncio.sleep(0.01)
    return True


async def test_an_event_sent_through_one_replica_reaches_sockets_on_the_other(redis_url):
    a, b = RedisHub(redis_url), RedisHub(redis_url)
    await a.start()
    await b.start()
    try:
        shopper_on_b, agent_on_b, boss_on_a = FakeSocket(), FakeSocket(), FakeSocket()
        b.add_shopper("c1", shopper_on_b)
        b.add_agent({"agent_id": 7, "role": "agent"}, agent_on_b)
        a.add_agent({"agent_id": 9, "role": "supervisor"}, boss_on_a)
        # the agent on replica A writes: the shopper on B gets it, in order, once
        for i in range(100):
            await a.to_shopper("c1", {"type": "message", "message": {"text": f"亲{i}"}})
        assert await _until(lambda: len(shopper_on_b.events) >= 100)
        await asyncio.sleep(0.2)                   # nothing more comes (no echo, no twice)
        assert [e["message"]["text"] for e in shopper_on_b.events] == \
            [f"亲{i}" for i in range(100)]
        # an assignment made on B: the agent on B and the supervisor on A see it
        await b.to_agent_and_supervisors(7, {"type": "assigned", "conversation_id": "c1"})
        assert await _until(lambda: agent_on_b.events and boss_on_a.events)
        await a.to_all_agents({"type": "queue", "queue": []})
        assert await _until(lambda: len(agent_on_b.events) == 2 and
                            len(boss_on_a.events) == 2)
        await asyncio.sleep(0.2)
        assert [e["type"] for e in agent_on_b.events] == ["assigned", "queue"]
        assert [e["type"] for e in boss_on_a.events] == ["assigned", "queue"]
        assert a.has_shopper("c1") and a.has_agents()   # it cannot know: it says yes
    finally:
        await a.stop()
        await b.stop()


async def _dies(coordination) -> None:
    """A replica that stops renewing (it died): its leases lapse, nothing is given
    back."""
    coordination._renewer.cancel()
    await asyncio.gather(coordination._renewer, return_exceptions=True)
    await coordination._redis.close()


async def test_one_leader_and_one_holder_per_conversation_taken_over_when_they_lapse(
        redis_url):
    """desk/coordination.py: of two replicas one leads; a conversation's lease is one
    replica's at a time (the other's try fails, its wait lasts until it is given back);
    when the holder dies, the leader's lease and the conversation's lapse after the
    lease time and the other takes both over."""
    from desk.coordination import RedisCoordination

    lease = 0.6
    a, b = RedisCoordination(redis_url, lease_s=lease), RedisCoordination(redis_url,
                                                                          lease_s=lease)
    await a.start()
    await b.start()
    try:
        assert a.leads() and not b.leads()
        await asyncio.sleep(lease * 2)                 # renewed: still a's
        assert a.leads() and not b.leads()
        assert await a.hold("c1")
        assert not await b.hold("c1", wait=False)
        assert await a.hold("c1") and a.held("c1")     # a second turn joins a's hold
        a.release("c1")
        waiting = asyncio.ensure_future(b.hold("c1"))
        await asyncio.sleep(lease * 2)                 # still held (renewed) by a
        assert not waiting.done()
        a.release("c1")                                # the last use gives it back
        assert await asyncio.wait_for(waiting, 2) and b.held("c1")
        b.release("c1")
        assert await a.hold("c2")
        died = asyncio.get_running_loop().time()
        await _dies(a)
        assert not await b.hold("c2", wait=False)
        while not b.leads():
            assert asyncio.get_running_loop().time() - died < lease * 2 + 0.5
            await asyncio.sleep(0.05)
        assert await asyncio.wait_for(b.hold("c2"), lease * 2)
        b.release("c2")
    finally:
        await b.stop()


async def test_what_queued_shoppers_were_told_is_one_record_for_every_replica(redis_url):
    """What one replica told is what the other reads; the first figures are recorded
    once, whoever comes first."""
    from desk.coordination import RedisCoordination

    a, b = RedisCoordination(redis_url), RedisCoordination(redis_url)
    await a.start()
    await b.start()
    try:
        async with a.queue_lock():
            assert await a.tell_first("c1", (2, 10, False))
        async with b.queue_lock():
            assert not await b.tell_first("c1", (3, 15, False))     # late, and stale
            assert await b.told() == {"c1": (2, 10, False)}
            await b.tell("c1", (1, 5, False))
        assert await a.told() == {"c1": (1, 5, False)}
        await a.forget("c1")
        assert await b.told() == {}
    finally:
        await a.stop()
        await b.stop()
