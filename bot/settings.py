"""All configuration in one typed object, read from the environment.

Defaults run the demo on one machine. Every process (Rasa's custom components, the
action server, the desk, the CLI) calls `get_settings()`; nothing else reads os.environ.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Settings:
    catalog_path: Path = ROOT / "var" / "catalog.db"
    timezone: str = "Asia/Shanghai"
    now_override: str | None = None          # ISO time that pins the clock (tests, demos)
    default_language: str = "zh"
    rasa_url: str = "http://127.0.0.1:5005"
    action_port: int = 5055
    rasa_port: int = 5005
    rasa_workers: int = 1
    models_dir: Path = ROOT / "models"
    actions_in_process: bool = True          # Rasa servers run actions/ themselves
    # -- the Rasa side's network face and memory (docs/running.md) ---------------------
    bind_host: str = "127.0.0.1"             # where Rasa, its router and the action server listen
    rasa_token: str | None = None            # Rasa's HTTP API token (None: the token file's)
    rasa_token_file: Path = ROOT / "var" / "rasa_api_token"  # generated once, owner-only
    rasa_cors_origins: tuple = ()            # browser origins allowed to call Rasa (none)
    tracker_store_url: str = "sqlite:///" + str(ROOT / "var" / "trackers.db")  # or postgresql://
    # -- the desk (desk/, docs/desk.md) ------------------------------------------------
    desk_db: Path = ROOT / "var" / "desk.db"
    desk_host: str = "127.0.0.1"
    desk_port: int = 8000
    desk_rasa_timeout: float = 5.0           # seconds before the shopper gets a holding reply
    desk_reopen_minutes: int = 30            # a resolved conversation reopens within this
    desk_agent_cap: int = 8                  # concurrent conversations per agent (default)
    desk_daily_cap: int = 120                # conversations assigned per agent per day
    desk_hours: str = "09:00-22:00"          # business hours, shop time
    desk_default_handle_s: int = 300         # handling time assumed until measured
    desk_demo_agents: bool = True            # create lily/wang/tom/boss on first start
    desk_handoff_cart_above: float = 5000.0  # cart value that brings in a human (0 = never)
    desk_handoff_discount: str = "over_max"  # over_max | any | off (see docs/desk.md)
    desk_origins: tuple = ()                 # extra origins allowed for the agent console
    desk_session_hours: int = 12             # agent log-in lifetime
    desk_secure_cookie: bool = False         # set Secure on the session cookie (HTTPS)
    extra: dict = field(default_factory=dict)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def now(self) -> datetime:
        """The shop's current local time (pinned by SHOPASSIST_NOW when set)."""
        if self.now_override:
            t = datetime.fromisoformat(self.now_override)
            return t.astimezone(self.tz) if t.tzinfo else t.replace(tzinfo=self.tz)
        return datetime.now(self.tz)


def default_workers() -> int:
    """One Rasa server per core, at most 4 (each holds its own model, about 0.7 GB)."""
    return max(1, min(4, os.cpu_count() or 1))


def get_settings() -> Settings:
    env = os.environ
    return Settings(
        catalog_path=Path(env.get("SHOPASSIST_CATALOG", str(ROOT / "var" / "catalog.db"))),
        timezone=env.get("SHOPASSIST_TZ", "Asia/Shanghai"),
        now_override=env.get("SHOPASSIST_NOW") or None,
        default_language=env.get("SHOPASSIST_DEFAULT_LANG", "zh"),
        rasa_url=env.get("SHOPASSIST_RASA_URL", "http://127.0.0.1:5005"),
        action_port=int(env.get("SHOPASSIST_ACTION_PORT", "5055")),
        rasa_port=int(env.get("SHOPASSIST_RASA_PORT", "5005")),
        rasa_workers=int(env.get("SHOPASSIST_RASA_WORKERS", str(default_workers()))),
        models_dir=Path(env.get("SHOPASSIST_MODELS", str(ROOT / "models"))),
        actions_in_process=env.get("SHOPASSIST_ACTIONS_IN_PROCESS", "1") not in ("0", ""),
        bind_host=env.get("SHOPASSIST_BIND_HOST", "127.0.0.1"),
        rasa_token=env.get("SHOPASSIST_RASA_TOKEN") or None,
        rasa_token_file=Path(env.get("SHOPASSIST_RASA_TOKEN_FILE",
                                     str(ROOT / "var" / "rasa_api_token"))),
        rasa_cors_origins=tuple(o.strip().rstrip("/") for o in
                                env.get("SHOPASSIST_RASA_CORS_ORIGINS", "").split(",")
                                if o.strip()),
        tracker_store_url=env.get("SHOPASSIST_TRACKER_STORE_URL",
                                  "sqlite:///" + str(ROOT / "var" / "trackers.db")),
        desk_db=Path(env.get("SHOPASSIST_DESK_DB", str(ROOT / "var" / "desk.db"))),
        desk_host=env.get("SHOPASSIST_DESK_HOST", "127.0.0.1"),
        desk_port=int(env.get("SHOPASSIST_DESK_PORT", "8000")),
        desk_rasa_timeout=float(env.get("SHOPASSIST_DESK_RASA_TIMEOUT", "5")),
        desk_reopen_minutes=int(env.get("SHOPASSIST_DESK_REOPEN_MINUTES", "30")),
        desk_agent_cap=int(env.get("SHOPASSIST_DESK_AGENT_CAP", "8")),
        desk_daily_cap=int(env.get("SHOPASSIST_DESK_DAILY_CAP", "120")),
        desk_hours=env.get("SHOPASSIST_DESK_HOURS", "09:00-22:00"),
        desk_default_handle_s=int(env.get("SHOPASSIST_DESK_DEFAULT_HANDLE_S", "300")),
        desk_demo_agents=env.get("SHOPASSIST_DESK_DEMO_AGENTS", "1") not in ("0", ""),
        desk_handoff_cart_above=float(env.get("SHOPASSIST_DESK_HANDOFF_CART_ABOVE", "5000")),
        desk_handoff_discount=env.get("SHOPASSIST_DESK_HANDOFF_DISCOUNT", "over_max"),
        desk_origins=tuple(o.strip().rstrip("/") for o in
                           env.get("SHOPASSIST_DESK_ORIGINS", "").split(",") if o.strip()),
        desk_session_hours=int(env.get("SHOPASSIST_DESK_SESSION_HOURS", "12")),
        desk_secure_cookie=env.get("SHOPASSIST_DESK_SECURE_COOKIE", "0") not in ("0", ""),
    )
