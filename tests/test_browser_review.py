"""The issue's story in a real browser (Debian's Chromium, driven by Playwright) against the
trained Rasa server, the action server and the desk: a shopper writes something the bot does
not understand (可以刻字吗, "can it be engraved?", which the installed model reads as
nlu_fallback); the message is on the supervisor's review list in /console, where she picks
the right intent with a number key; `shopassist nlu export-reviewed` writes it into a copy
of the training data; `shopassist train` retrains into a temporary models dir (holding a
copy of the installed model and its scores, so the held-out gate compares for real), and
the model it installs reads the same message as the corrected intent.

Slow: it trains a model (about 5 minutes on the loaded 2-core VM) and parses the held-out
sets. Needs /usr/bin/chromium and the trained model (`make train`)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from bot.training import model_path, scores_path
from tests.test_browser import (ENV, _agent_console, _say, _shopper, _watch, browser,  # noqa: F401
                                desk, rasa)

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[1]
MESSAGE = "可以刻字吗"
CORRECT = "product_details"
WAIT = 60_000


def _review_row(db: Path) -> dict:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        rows = [dict(r) for r in conn.execute("SELECT * FROM reviews WHERE text = ?",
                                              (MESSAGE,))]
    finally:
        conn.close()
    assert len(rows) == 1, rows
    return rows[0]


def _parse(model: Path, text: str) -> dict:
    """The model loaded in this process, on a thread of its own (Playwright's sync API keeps
    an event loop running on this one)."""
    from concurrent.futures import ThreadPoolExecutor

    from bot.nlu_eval import load_agent

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(load_agent(model).parse_message(text))).result()


def test_a_corrected_message_is_understood_after_export_and_training(
        browser, desk, tmp_path):  # noqa: F811 - fixtures
    errors: list = []
    # the shopper, on a product page: the bot does not understand
    shop_ctx, shop = _shopper(browser, desk.url, "/p/P001?lang=zh", "zh", errors)
    _say(shop, MESSAGE)
    shop.wait_for_selector(".sa-msg.sa-bot", timeout=WAIT)
    # the supervisor's console: the message is on the review list
    ctx, page = _agent_console(browser, desk.url, "boss", "zh", errors)
    item = page.locator(".review", has_text=MESSAGE)
    item.wait_for(timeout=WAIT)
    entry = _review_row(desk.db)
    assert (entry["reason"], entry["bot_intent"], entry["language"]) == \
        ("not_understood", "nlu_fallback", "zh")
    # the choices are numbered 1-9; the key of the right intent labels it
    intents = item.locator(".rv-choices button").evaluate_all(
        "bs => bs.map(b => b.getAttribute('data-intent'))")
    assert CORRECT in intents[:9], intents
    item.focus()
    page.keyboard.press(str(intents.index(CORRECT) + 1))
    item.wait_for(state="detached", timeout=WAIT)
    page.wait_for_selector(".toast", timeout=WAIT)
    entry = _review_row(desk.db)
    assert entry["confirmed_intent"] == CORRECT and entry["reviewed_at"]
    assert page.locator("#review-figures").inner_text().strip() != ""
    ctx.close()
    shop_ctx.close()
    assert errors == []

    # export into a copy of the training data, train into a temporary models dir
    data, models = tmp_path / "data", tmp_path / "models"
    shutil.copytree(ROOT / "data", data)
    installed = model_path()
    models.mkdir()
    for path in (installed, scores_path(installed)):
        shutil.copy(path, models / path.name)
    env = {**os.environ, "SHOPASSIST_DATA": str(data), "SHOPASSIST_MODELS": str(models)}
    shopassist = [sys.executable, "-m", "bot.cli"]
    run = subprocess.run(shopassist + ["nlu", "export-reviewed", "--db", str(desk.db)],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    written = (data / "nlu" / "reviewed" / "zh.yml").read_text(encoding="utf-8")
    assert f"- intent: {CORRECT}\n  examples: |\n    - {MESSAGE}\n" in written
    run = subprocess.run(shopassist + ["train"], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=1800)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "installing the new model" in run.stdout
    new_model = models / installed.name
    assert new_model.read_bytes() != installed.read_bytes()
    kept = json.loads(scores_path(new_model).read_text())
    assert set(kept["sets"]) == {"zh", "zh_b", "en", "en_b"}
    # the same message, parsed by the model the training installed
    assert _parse(new_model, MESSAGE)["intent"]["name"] == CORRECT
