"""All configuration in one typed object, read from the environment.

Defaults run the demo on one machine. Every process (Rasa's custom components, the
action server, the desk, the CLI) calls `get_settings()`; nothing else reads os.environ.

Each setting is written once, as a field of `Settings` with its default. Its environment
variable is `SHOPASSIST_` + the field's name in capitals (`desk_port` ->
`SHOPASSIST_DESK_PORT`) unless the field names another with `setting(env=...)`; a value
that is set is parsed by the field's type (`bool`: anything but "0" or empty is true;
optional: empty is None; `tuple`: a comma-separated list) or by the field's own parser.
"""

from __future__ import annotations

import dataclasses
import os
import typing
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Optional
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
PREFIX = "SHOPASSIST_"


def default_workers() -> int:
    """One Rasa server per core, at most 4 (each holds its own model, about 0.7 GB)."""
    return max(1, min(4, os.cpu_count() or 1))


def _comma_list(value: str) -> tuple:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _origins(value: str) -> tuple:
    return tuple(origin.rstrip("/") for origin in _comma_list(value))


def setting(default: Any = dataclasses.MISSING, *, env: Optional[str] = None,
            default_factory: Any = dataclasses.MISSING,
            parse: Optional[Callable[[str], Any]] = None) -> Any:
    """A settings field whose environment variable is not derived from its name
    (`env`: the part after SHOPASSIST_), or whose value has its own parser."""
    return field(default=default, default_factory=default_factory,
                 metadata={"env": PREFIX + env if env else None, "parse": parse})


@dataclass(frozen=True)
class Settings:
    catalog_path: Path = setting(ROOT / "var" / "catalog.db", env="CATALOG")
    timezone: str = setting("Asia/Shanghai", env="TZ")
    now_override: Optional[str] = setting(None, env="NOW")  # ISO time pinning the clock
    default_language: str = setting("zh", env="DEFAULT_LANG")
    rasa_url: str = "http://127.0.0.1:5005"
    action_port: int = 5055
    rasa_port: int = 5005
    rasa_workers: int = setting(default_factory=default_workers)   # one per core, at most 4
    models_dir: Path = setting(ROOT / "models", env="MODELS")
    # -- training (bot/training.py, docs/nlu.md) ----------------------------------------
    training_data: Path = setting(ROOT / "data", env="DATA")   # what `rasa train` reads
    heldout_dir: Path = setting(ROOT / "bench" / "heldout", env="HELDOUT")  # the gate's sets
    # a candidate model is not installed when a held-out set's intent accuracy falls by
    # more than this many points below the installed model's
    train_max_drop_points: float = 1.0
    actions_in_process: bool = True          # Rasa servers run actions/ themselves
    # a complaint read with less confidence than this is not handed to a person at once:
    # the bot asks whether something is wrong and offers a person (actions/service.py)
    complaint_sure: float = 0.6
    # the secret a storefront signs its customer ids with (bot/shop_identity.py); empty:
    # generated once into var/secrets/shop_secret
    shop_secret: Optional[str] = None
    # -- the Rasa side's network face and memory (docs/running.md) ---------------------
    bind_host: str = "127.0.0.1"             # where Rasa, its router and the action server listen
    rasa_token: Optional[str] = None         # Rasa's HTTP API token (None: the token file's)
    rasa_token_file: Path = ROOT / "var" / "rasa_api_token"  # generated once, owner-only
    # browser origins allowed to call Rasa (comma-separated; none by default)
    rasa_cors_origins: tuple = setting((), parse=_origins)
    tracker_store_url: str = "sqlite:///" + str(ROOT / "var" / "trackers.db")  # or postgresql://
    # -- the desk (desk/, docs/desk.md) ------------------------------------------------
    desk_db: Path = ROOT / "var" / "desk.db"
    # the desk's record in PostgreSQL instead of desk_db (postgresql://user@host:port/db;
    # several desk replicas share it, docs/running.md "Past one machine")
    database_url: Optional[str] = None
    # Redis (redis://host:port/0): WebSocket events, log-in limits, the timer's leader,
    # who answers a conversation and what queued shoppers were told, shared by several
    # desk replicas; None: all in this process
    redis_url: Optional[str] = None
    desk_host: str = "127.0.0.1"
    desk_port: int = 8000
    # one call to Rasa that has not answered after this many seconds counts as failed
    # (retried within desk_rasa_hold_s); a slow answer is otherwise waited for
    desk_rasa_timeout: float = 30.0
    desk_rasa_hold_s: float = 60.0           # Rasa down this long: then hand off
    desk_rasa_concurrency: int = 16          # calls in flight to Rasa at once (FIFO beyond)
    desk_wait_notice_s: float = 3.0          # no answer yet after this: "one moment"
    desk_reopen_minutes: int = 30            # a resolved conversation reopens within this
    desk_agent_cap: int = 8                  # concurrent conversations per agent (default)
    desk_daily_cap: int = 120                # conversations assigned per agent per day
    desk_hours: str = "09:00-22:00"          # business hours, shop time
    desk_default_handle_s: int = 300         # handling time assumed until measured
    desk_presence_grace_s: float = 45.0      # an agent's console unseen this long: away
    desk_tick_s: float = 5.0                 # presence sweep, queue drain and waits refresh
    # several replicas (desk/coordination.py): the timer's leader and the replica
    # answering a conversation renew their hold every third of this; a replica that died
    # loses it this long after, and another takes over (its stranded messages too)
    desk_lease_s: float = 10.0
    desk_demo_agents: bool = True            # create lily/wang/tom/boss on first start
    desk_handoff_cart_above: float = 5000.0  # cart value that brings in a human (0 = never)
    # a shopper message the bot read with less confidence than this is put on the review
    # list (as are nlu_fallback and out_of_scope; desk/store/reviews.py)
    desk_review_below_confidence: float = 0.5
    desk_handoff_discount: str = "over_max"  # over_max | any | off (see docs/desk.md)
    # extra origins allowed for the agent console (comma-separated)
    desk_origins: tuple = setting((), parse=_origins)
    desk_session_hours: int = 12             # agent log-in lifetime
    desk_secure_cookie: bool = False         # set Secure on the session cookie (HTTPS)
    desk_group_commit: bool = True           # commit queued writes together (one fsync)
    # agents' log-in: attempts per minute per address and per account, lockout after
    # this many failures in a row for this many seconds (doubling each time, at most 15 min)
    desk_login_per_minute: float = 10.0
    desk_login_account_per_minute: float = 5.0
    desk_login_lockout_after: int = 5
    desk_login_lockout_s: float = 30.0

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def now(self) -> datetime:
        """The shop's current local time (pinned by SHOPASSIST_NOW when set)."""
        if self.now_override:
            t = datetime.fromisoformat(self.now_override)
            return t.astimezone(self.tz) if t.tzinfo else t.replace(tzinfo=self.tz)
        return datetime.now(self.tz)


def env_name(f: dataclasses.Field) -> str:
    """The environment variable of a settings field."""
    return f.metadata.get("env") or PREFIX + f.name.upper()


def _parser(f: dataclasses.Field, hint: Any) -> Callable[[str], Any]:
    if f.metadata.get("parse"):
        return f.metadata["parse"]
    args = typing.get_args(hint)
    if type(None) in args:                  # optional: empty is None
        inner = _parser(f, next(a for a in args if a is not type(None)))
        return lambda value: inner(value) if value else None
    if hint is bool:
        return lambda value: value not in ("0", "")
    if hint is tuple:
        return _comma_list
    return hint                             # str, int, float, Path


def get_settings() -> Settings:
    """The settings of this process: each field from its environment variable when that
    is set, else its default."""
    hints = typing.get_type_hints(Settings)
    values = {}
    for f in dataclasses.fields(Settings):
        raw = os.environ.get(env_name(f))
        if raw is not None:
            values[f.name] = _parser(f, hints[f.name])(raw)
    return Settings(**values)
