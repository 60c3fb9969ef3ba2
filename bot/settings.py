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
    )
