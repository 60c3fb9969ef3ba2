"""Throttling of the agents' log-in: a rate limit per account and per address, and a
lockout with growing back-off after repeated failures.

`LoginLimiter` is the seam: the desk asks `admit(account, address)` before it checks a
password (a refusal costs no password check at all), then reports `failed` or
`succeeded`. `MemoryLoginLimiter` keeps everything in this process, which is right for one
desk process; `RedisLoginLimiter` (when `SHOPASSIST_REDIS_URL` is set) keeps the same
state in Redis, shared by every desk replica, so that an attacker cannot multiply the
limits by the number of replicas: each call is one Lua script, atomic in Redis, with the
same arithmetic as the memory version (the buckets and the failure record as hashes that
expire once there is nothing left to remember). Its clock is the wall clock, passed to
the script, so replicas' clocks should agree (NTP). `limiter_for(settings)` picks one.

The rules (`LoginPolicy`, configured in bot/settings.py):

- **Rate**: each attempt takes a token from the address's bucket and from the account's
  bucket (token buckets: `burst` tokens, refilled at `per_minute`); an empty bucket
  refuses with the seconds until a token is back.
- **Lockout**: `lockout_after` failures in a row lock the account for `lockout_s`; each
  further lockout of the same account doubles that, up to `lockout_max_s`. During a
  lockout every attempt is refused, the right password too, with the seconds left. A
  successful log-in (outside a lockout) clears the failures and the back-off. Unknown
  account names are counted like real ones, so the answers do not tell which exist.
"""

from __future__ import annotations

import abc
import math
import time
from dataclasses import dataclass
from typing import Callable

MAX_KEYS = 50_000             # entries kept before idle ones are dropped (memory bound)


@dataclass(frozen=True)
class LoginPolicy:
    address_per_minute: float = 10.0
    address_burst: int = 10
    account_per_minute: float = 5.0
    account_burst: int = 5
    lockout_after: int = 5
    lockout_s: float = 30.0
    lockout_max_s: float = 900.0

    @classmethod
    def from_settings(cls, settings) -> "LoginPolicy":
        """A minute's worth of attempts as the burst; back-off up to 15 minutes."""
        return cls(address_per_minute=settings.desk_login_per_minute,
                   address_burst=max(1, int(settings.desk_login_per_minute)),
                   account_per_minute=settings.desk_login_account_per_minute,
                   account_burst=max(1, int(settings.desk_login_account_per_minute)),
                   lockout_after=settings.desk_login_lockout_after,
                   lockout_s=settings.desk_login_lockout_s)


class LoginLimiter(abc.ABC):
    """What the desk asks before and after a password check (see the module docstring)."""

    @abc.abstractmethod
    async def admit(self, account: str, address: str) -> float:
        """0 when this attempt may go on (it is counted), else the seconds to wait."""

    @abc.abstractmethod
    async def failed(self, account: str, address: str) -> float:
        """A wrong password: counted; returns the lockout it started (seconds), or 0."""

    @abc.abstractmethod
    async def succeeded(self, account: str, address: str) -> None:
        """A right password: the account's failures and back-off are cleared."""


class _Bucket:
    __slots__ = ("tokens", "at")

    def __init__(self, tokens: float, at: float):
        self.tokens = tokens
        self.at = at


class _Failures:
    __slots__ = ("count", "locked_until", "lockouts")

    def __init__(self) -> None:
        self.count = 0
        self.locked_until = 0.0
        self.lockouts = 0


class MemoryLoginLimiter(LoginLimiter):
    """The rules kept in this process's memory (one desk process)."""

    def __init__(self, policy: LoginPolicy = LoginPolicy(),
                 clock: Callable[[], float] = time.monotonic):
        self.policy = policy
        self.clock = clock
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self._failures: dict[str, _Failures] = {}

    # -- token buckets ---------------------------------------------------------------------
    def _take(self, key: tuple[str, str], burst: int, per_minute: float,
              now: float) -> float:
        """Take a token from a bucket: 0, or the seconds until one is back."""
        rate = per_minute / 60.0
        b = self._buckets.get(key)
        if b is None:
            b = self._buckets[key] = _Bucket(float(burst), now)
        b.tokens = min(float(burst), b.tokens + (now - b.at) * rate)
        b.at = now
        if b.tokens >= 1.0:
            b.tokens -= 1.0
            return 0.0
        return (1.0 - b.tokens) / rate if rate > 0 else math.inf

    def _prune(self, now: float) -> None:
        """Drop buckets that have refilled and failure records with nothing left to
        remember (as if never seen), once the maps grow past MAX_KEYS."""
        p = self.policy
        if len(self._buckets) > MAX_KEYS:
            full = {"address": (p.address_burst, p.address_per_minute),
                    "account": (p.account_burst, p.account_per_minute)}
            for key, b in list(self._buckets.items()):
                burst, per_minute = full[key[0]]
                if b.tokens + (now - b.at) * per_minute / 60.0 >= burst:
                    del self._buckets[key]
        if len(self._failures) > MAX_KEYS:
            for key, f in list(self._failures.items()):
                if f.locked_until <= now and f.count == 0 and (
                        f.lockouts == 0 or now - f.locked_until > p.lockout_max_s):
                    del self._failures[key]

    # -- the interface ---------------------------------------------------------------------
    async def admit(self, account: str, address: str) -> float:
        now, p = self.clock(), self.policy
        self._prune(now)
        f = self._failures.get(account)
        if f is not None and f.locked_until > now:
            return f.locked_until - now
        wait = self._take(("address", address), p.address_burst, p.address_per_minute, now)
        if wait:
            return wait
        return self._take(("account", account), p.account_burst, p.account_per_minute, now)

    async def failed(self, account: str, address: str) -> float:
        now, p = self.clock(), self.policy
        f = self._failures.setdefault(account, _Failures())
        f.count += 1
        if f.count < p.lockout_after:
            return 0.0
        lock = min(p.lockout_max_s, p.lockout_s * 2 ** f.lockouts)
        f.count = 0
        f.lockouts += 1
        f.locked_until = now + lock
        return lock

    async def succeeded(self, account: str, address: str) -> None:
        self._failures.pop(account, None)


# -- several replicas: the same rules in Redis -----------------------------------------------
_TAKE = """
local function take(key, burst, rate, now, ttl_ms)
  local b = redis.call('HMGET', key, 'tokens', 'at')
  local tokens = tonumber(b[1]) or burst
  local at = tonumber(b[2]) or now
  tokens = math.min(burst, tokens + (now - at) * rate)
  local wait = 0
  if tokens >= 1 then
    tokens = tokens - 1
  elseif rate > 0 then
    wait = (1 - tokens) / rate
  else
    wait = -1
  end
  redis.call('HSET', key, 'tokens', string.format('%.17g', tokens),
             'at', string.format('%.17g', now))
  redis.call('PEXPIRE', key, ttl_ms)
  return wait
end
"""

# KEYS: failures, address bucket, account bucket; ARGV: now, address burst, rate/s,
# account burst, rate/s, address ttl ms, account ttl ms. Returns the wait (-1: never).
_ADMIT = _TAKE + """
local now = tonumber(ARGV[1])
local locked = tonumber(redis.call('HGET', KEYS[1], 'locked_until') or '0')
if locked > now then return string.format('%.17g', locked - now) end
local wait = take(KEYS[2], tonumber(ARGV[2]), tonumber(ARGV[3]), now, tonumber(ARGV[6]))
if wait ~= 0 then return string.format('%.17g', wait) end
wait = take(KEYS[3], tonumber(ARGV[4]), tonumber(ARGV[5]), now, tonumber(ARGV[7]))
return string.format('%.17g', wait)
"""

# KEYS: failures; ARGV: now, lockout_after, lockout_s, lockout_max_s, keep_ms.
# Returns the lockout started (seconds) or 0.
_FAILED = """
local now = tonumber(ARGV[1])
local count = redis.call('HINCRBY', KEYS[1], 'count', 1)
if count < tonumber(ARGV[2]) then
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[5]))
  return '0'
end
local lockouts = tonumber(redis.call('HGET', KEYS[1], 'lockouts') or '0')
local lock = math.min(tonumber(ARGV[4]), tonumber(ARGV[3]) * 2 ^ lockouts)
redis.call('HSET', KEYS[1], 'count', 0, 'lockouts', lockouts + 1,
           'locked_until', string.format('%.17g', now + lock))
redis.call('PEXPIRE', KEYS[1], math.ceil((lock + tonumber(ARGV[4])) * 1000) + tonumber(ARGV[5]))
return string.format('%.17g', lock)
"""

FAILURES_KEEP_S = 86_400       # failures without a lockout are forgotten after a quiet day


class RedisLoginLimiter(LoginLimiter):
    """The rules kept in Redis, shared by every desk replica (see the module docstring)."""

    PREFIX = "shopassist:login:"

    def __init__(self, url: str, policy: LoginPolicy = LoginPolicy(),
                 clock: Callable[[], float] = time.time):
        import redis.asyncio as aioredis

        self.policy = policy
        self.clock = clock
        self._redis = aioredis.Redis.from_url(url)
        self._admit = self._redis.register_script(_ADMIT)
        self._failed = self._redis.register_script(_FAILED)

    def _keys(self, account: str, address: str) -> list[str]:
        p = self.PREFIX
        return [f"{p}failures:{account}", f"{p}address:{address}",
                f"{p}account:{account}"]

    @staticmethod
    def _refill_ms(burst: int, per_minute: float) -> int:
        """How long an untouched bucket takes to be full again (then it can go)."""
        return int(burst / (per_minute / 60.0) * 1000) + 1000 if per_minute > 0 \
            else FAILURES_KEEP_S * 1000

    async def admit(self, account: str, address: str) -> float:
        p = self.policy
        wait = float(await self._admit(
            keys=self._keys(account, address),
            args=[repr(self.clock()), p.address_burst, repr(p.address_per_minute / 60.0),
                  p.account_burst, repr(p.account_per_minute / 60.0),
                  self._refill_ms(p.address_burst, p.address_per_minute),
                  self._refill_ms(p.account_burst, p.account_per_minute)]))
        return math.inf if wait < 0 else wait

    async def failed(self, account: str, address: str) -> float:
        p = self.policy
        return float(await self._failed(
            keys=self._keys(account, address)[:1],
            args=[repr(self.clock()), p.lockout_after, repr(p.lockout_s),
                  repr(p.lockout_max_s), FAILURES_KEEP_S * 1000]))

    async def succeeded(self, account: str, address: str) -> None:
        await self._redis.delete(self._keys(account, address)[0])

    async def close(self) -> None:
        await self._redis.close()


def limiter_for(settings) -> LoginLimiter:
    """Redis when `redis_url` is set (several replicas), else this process's memory."""
    policy = LoginPolicy.from_settings(settings)
    if settings.redis_url:
        return RedisLoginLimiter(settings.redis_url, policy)
    return MemoryLoginLimiter(policy)
