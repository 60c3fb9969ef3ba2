"""Shared fixtures: a demo catalog built once per session in a temp folder, a pinned
clock, and a factory for rasa_sdk trackers (plus the plugins named in `pytest_plugins`)."""

from __future__ import annotations

import os
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

# PostgreSQL and Redis for the store, routing and cluster tests (tests/cluster_support.py);
# a small NLU model trained once, for the NLU components' round trips (tests/nlu_support.py)
pytest_plugins = ["tests.cluster_support", "tests.nlu_support"]

# a Friday morning before every cut-off, shop time
PINNED_NOW = "2026-11-20T10:00:00+08:00"
NOW = datetime.fromisoformat(PINNED_NOW)


class Clock:
    """A clock the desk's store reads (`DeskStore(clock=...)`), moved by the test."""

    def __init__(self, t: datetime = NOW):
        self.t = t

    def __call__(self) -> datetime:
        return self.t

    def advance(self, **kw) -> None:
        self.t += timedelta(**kw)


@pytest.fixture()
def clock() -> Clock:
    return Clock()


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory) -> Path:
    from catalog.crosssell import mine_catalog
    from catalog.demo import build_demo

    path = tmp_path_factory.mktemp("catalog") / "catalog.db"
    build_demo(path)
    mine_catalog(path)          # as `make catalog` does
    return path


@pytest.fixture(scope="session", autouse=True)
def _shop_env(demo_db):
    old = {k: os.environ.get(k) for k in ("SHOPASSIST_CATALOG", "SHOPASSIST_NOW")}
    os.environ["SHOPASSIST_CATALOG"] = str(demo_db)
    os.environ["SHOPASSIST_NOW"] = PINNED_NOW
    yield
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def copy_db(src: str | Path, dst: str | Path) -> Path:
    """A consistent copy of an SQLite database, including what is still in its write-ahead
    log (`shutil.copy` of a WAL-mode file misses the -wal file), made with sqlite3's backup
    API."""
    source = sqlite3.connect(f"file:{src}?mode=ro", uri=True)
    target = sqlite3.connect(dst)
    try:
        with target:
            source.backup(target)
    finally:
        target.close()
        source.close()
    return Path(dst)


@pytest.fixture()
def catalog(demo_db):
    from catalog.queries import Catalog

    c = Catalog(demo_db)
    yield c
    c.close()


@pytest.fixture()
def sql(demo_db):
    """Run SQL against the demo database (read-only), returning dict rows."""
    conn = sqlite3.connect(f"file:{demo_db}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row

    def run(query: str, *params):
        return [dict(r) for r in conn.execute(query, params).fetchall()]

    yield run
    conn.close()



def make_tracker(text: str = "", *, intent: str = "check_stock", entities=None,
                 slots=None, metadata=None, events=None) -> Tracker:
    slots = {"language": "zh", **(slots or {})}
    latest = {"text": text, "intent": {"name": intent, "confidence": 0.99},
              "entities": entities or [], "metadata": metadata or {}}
    # slots given were set earlier in the conversation, unless events say otherwise
    evs = list(events) if events is not None else [
        {"event": "slot", "name": k, "value": v} for k, v in slots.items()]
    evs.append({"event": "user", "text": text, "parse_data": latest,
                "metadata": metadata or {}})
    return Tracker("shopper-1", slots, latest, evs, False, None, {}, "action_listen")


@pytest.fixture()
def dispatcher():
    return CollectingDispatcher()


async def run_action(action, tracker, dispatcher):
    return await action.run(dispatcher, tracker, {})


def free_ports(n: int = 1) -> list[int]:
    """`n` consecutive TCP ports free on 127.0.0.1 now (a Rasa server with workers uses
    its port + 1..n), so that test runs side by side never collide."""
    import random
    import socket

    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(20000, 60000 - n)
        socks = []
        try:
            for p in range(base, base + n):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", p))
            return list(range(base, base + n))
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free ports")
