"""Settings (bot/settings.py), the desk's and the rest: each written once as a field, its
environment variable and parser derived from it. The variables are the ones the docs name
(written out here by hand), each one read and parsed by its type."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from bot.settings import ROOT, Settings, env_name, get_settings

# every setting's variable, as docs/running.md and docs/desk.md name them
VARIABLES = {
    "catalog_path": "SHOPASSIST_CATALOG", "timezone": "SHOPASSIST_TZ",
    "now_override": "SHOPASSIST_NOW", "default_language": "SHOPASSIST_DEFAULT_LANG",
    "rasa_url": "SHOPASSIST_RASA_URL", "action_port": "SHOPASSIST_ACTION_PORT",
    "rasa_port": "SHOPASSIST_RASA_PORT", "rasa_workers": "SHOPASSIST_RASA_WORKERS",
    "models_dir": "SHOPASSIST_MODELS",
    "training_data": "SHOPASSIST_DATA", "heldout_dir": "SHOPASSIST_HELDOUT",
    "train_max_drop_points": "SHOPASSIST_TRAIN_MAX_DROP_POINTS",
    "complaint_sure": "SHOPASSIST_COMPLAINT_SURE",
    "actions_in_process": "SHOPASSIST_ACTIONS_IN_PROCESS",
    "shop_secret": "SHOPASSIST_SHOP_SECRET",
    "bind_host": "SHOPASSIST_BIND_HOST",
    "rasa_token": "SHOPASSIST_RASA_TOKEN",
    "rasa_token_file": "SHOPASSIST_RASA_TOKEN_FILE",
    "rasa_cors_origins": "SHOPASSIST_RASA_CORS_ORIGINS",
    "tracker_store_url": "SHOPASSIST_TRACKER_STORE_URL",
    "desk_db": "SHOPASSIST_DESK_DB", "desk_host": "SHOPASSIST_DESK_HOST",
    "database_url": "SHOPASSIST_DATABASE_URL", "redis_url": "SHOPASSIST_REDIS_URL",
    "desk_port": "SHOPASSIST_DESK_PORT", "desk_rasa_timeout": "SHOPASSIST_DESK_RASA_TIMEOUT",
    "desk_reopen_minutes": "SHOPASSIST_DESK_REOPEN_MINUTES",
    "desk_agent_cap": "SHOPASSIST_DESK_AGENT_CAP",
    "desk_daily_cap": "SHOPASSIST_DESK_DAILY_CAP", "desk_hours": "SHOPASSIST_DESK_HOURS",
    "desk_default_handle_s": "SHOPASSIST_DESK_DEFAULT_HANDLE_S",
    "desk_presence_grace_s": "SHOPASSIST_DESK_PRESENCE_GRACE_S",
    "desk_tick_s": "SHOPASSIST_DESK_TICK_S",
    "desk_lease_s": "SHOPASSIST_DESK_LEASE_S",
    "desk_demo_agents": "SHOPASSIST_DESK_DEMO_AGENTS",
    "desk_handoff_cart_above": "SHOPASSIST_DESK_HANDOFF_CART_ABOVE",
    "desk_handoff_discount": "SHOPASSIST_DESK_HANDOFF_DISCOUNT",
    "desk_review_below_confidence": "SHOPASSIST_DESK_REVIEW_BELOW_CONFIDENCE",
    "desk_origins": "SHOPASSIST_DESK_ORIGINS",
    "desk_session_hours": "SHOPASSIST_DESK_SESSION_HOURS",
    "desk_secure_cookie": "SHOPASSIST_DESK_SECURE_COOKIE",
    "desk_rasa_hold_s": "SHOPASSIST_DESK_RASA_HOLD_S",
    "desk_rasa_concurrency": "SHOPASSIST_DESK_RASA_CONCURRENCY",
    "desk_wait_notice_s": "SHOPASSIST_DESK_WAIT_NOTICE_S",
    "desk_group_commit": "SHOPASSIST_DESK_GROUP_COMMIT",
    "desk_login_per_minute": "SHOPASSIST_DESK_LOGIN_PER_MINUTE",
    "desk_login_account_per_minute": "SHOPASSIST_DESK_LOGIN_ACCOUNT_PER_MINUTE",
    "desk_login_lockout_after": "SHOPASSIST_DESK_LOGIN_LOCKOUT_AFTER",
    "desk_login_lockout_s": "SHOPASSIST_DESK_LOGIN_LOCKOUT_S",
}

# (variable, value set, setting, value read)
READ = [
    ("SHOPASSIST_CATALOG", "/data/shop.db", "catalog_path", Path("/data/shop.db")),
    ("SHOPASSIST_TZ", "Europe/London", "timezone", "Europe/London"),
    ("SHOPASSIST_NOW", "2026-11-20T10:00:00+08:00", "now_override",
     "2026-11-20T10:00:00+08:00"),
    ("SHOPASSIST_NOW", "", "now_override", None),
    ("SHOPASSIST_RASA_WORKERS", "3", "rasa_workers", 3),
    ("SHOPASSIST_ACTIONS_IN_PROCESS", "0", "actions_in_process", False),
    ("SHOPASSIST_ACTIONS_IN_PROCESS", "", "actions_in_process", False),
    ("SHOPASSIST_DESK_PORT", "8100", "desk_port", 8100),
    ("SHOPASSIST_DESK_RASA_TIMEOUT", "2.5", "desk_rasa_timeout", 2.5),
    ("SHOPASSIST_DESK_HANDOFF_CART_ABOVE", "0", "desk_handoff_cart_above", 0.0),
    ("SHOPASSIST_DESK_DEMO_AGENTS", "0", "desk_demo_agents", False),
    ("SHOPASSIST_DESK_SECURE_COOKIE", "1", "desk_secure_cookie", True),
    ("SHOPASSIST_DESK_HOURS", "00:00-24:00", "desk_hours", "00:00-24:00"),
    ("SHOPASSIST_DESK_ORIGINS", "https://shop.example/, https://m.shop.example",
     "desk_origins", ("https://shop.example", "https://m.shop.example")),
    ("SHOPASSIST_DESK_DB", "/tmp/d.db", "desk_db", Path("/tmp/d.db")),
    ("SHOPASSIST_DESK_RASA_HOLD_S", "10", "desk_rasa_hold_s", 10.0),
    ("SHOPASSIST_DESK_RASA_CONCURRENCY", "2", "desk_rasa_concurrency", 2),
    ("SHOPASSIST_DESK_GROUP_COMMIT", "0", "desk_group_commit", False),
    ("SHOPASSIST_DESK_LOGIN_LOCKOUT_AFTER", "3", "desk_login_lockout_after", 3),
    ("SHOPASSIST_DESK_PRESENCE_GRACE_S", "20", "desk_presence_grace_s", 20.0),
    ("SHOPASSIST_DESK_TICK_S", "0", "desk_tick_s", 0.0),
    ("SHOPASSIST_DESK_LEASE_S", "2.5", "desk_lease_s", 2.5),
]


def test_every_setting_has_its_documented_variable():
    fields = dataclasses.fields(Settings)
    assert {f.name: env_name(f) for f in fields} == VARIABLES
    assert not hasattr(Settings(), "extra")


@pytest.mark.parametrize("variable,raw,name,value", READ)
def test_a_variable_set_is_read_by_its_type(monkeypatch, variable, raw, name, value):
    before = getattr(get_settings(), name)
    monkeypatch.setenv(variable, raw)
    got = getattr(get_settings(), name)
    assert got == value and type(got) is type(value)
    assert before != value or name == "now_override"


def test_unset_variables_keep_the_defaults(monkeypatch):
    for variable in VARIABLES.values():
        monkeypatch.delenv(variable, raising=False)
    s = get_settings()
    assert (s.catalog_path, s.timezone, s.now_override, s.default_language) == \
        (ROOT / "var" / "catalog.db", "Asia/Shanghai", None, "zh")
    assert (s.desk_db, s.desk_port, s.desk_hours, s.desk_agent_cap, s.desk_daily_cap,
            s.desk_rasa_timeout, s.desk_handoff_cart_above, s.desk_handoff_discount,
            s.desk_demo_agents, s.desk_origins, s.desk_secure_cookie) == \
        (ROOT / "var" / "desk.db", 8000, "09:00-22:00", 8, 120, 30.0, 5000.0, "over_max",
         True, (), False)
    assert (s.desk_rasa_hold_s, s.desk_rasa_concurrency, s.desk_wait_notice_s,
            s.desk_group_commit) == (60.0, 16, 3.0, True)
    assert (s.desk_login_per_minute, s.desk_login_account_per_minute,
            s.desk_login_lockout_after, s.desk_login_lockout_s) == (10.0, 5.0, 5, 30.0)
    assert (s.desk_presence_grace_s, s.desk_tick_s, s.desk_lease_s) == (45.0, 5.0, 10.0)
    assert 1 <= s.rasa_workers <= 4


def test_a_malformed_number_is_refused(monkeypatch):
    monkeypatch.setenv("SHOPASSIST_DESK_PORT", "eighty")
    with pytest.raises(ValueError):
        get_settings()
