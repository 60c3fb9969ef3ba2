"""Throttling of the agents' log-in: a rate limit per account and per address, and a
lockout with growing back-off after repeated failures.

`LoginLimiter` is the seam: the desk asks `admit(account, address)` before it checks a
password (a refusal costs no password check at all), then reports `failed` or
`succeeded`. `MemoryLoginLimiter` keeps everything in this process, which is right for one
desk process; several desk replicas would share a Redis implementation of the same three
coroutines (a token bucket per key in a small Lua script, the failure count and lock with
`INCR`/`PEXPIRE`), so that an attacker cannot multiply the limits by the number of
replicas.

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
