"""The export of reviewed messages (bot/reviewed_data.py, `shopassist nlu export-reviewed`):
one Rasa 3 NLU file per language that Rasa's own loader reads back with the labels the
reviewers gave (entities annotated), the same files when run twice, a re-reviewed text with
its latest label only, and no line that repeats the training data or an evaluation set.
The expected examples are written out by hand."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bot.reviewed_data import annotate, export_reviewed
from bot.settings import ROOT


def examples(path: Path) -> list[tuple]:
    from rasa.shared.nlu.training_data.loading import load_data

    return sorted((e.get("intent"), e.get("text"),
                   tuple((x["entity"], x["start"], x["end"], x.get("value"))
                         for x in e.get("entities") or []))
                  for e in load_data(str(path)).training_examples)


def first_example(path: Path) -> str:
    """The first example line of an NLU file, as written there."""
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("    - "):
            return line[6:]
    raise AssertionError(path)


def review(i, text, intent, *, lang=None, entities=None, at="2026-12-03T10:00:00.000+08:00"):
    return {"message_id": i, "text": text, "language": lang, "intent": intent,
            "entities": entities, "reviewed_at": at}


TRAINING_LINE = first_example(ROOT / "data" / "nlu" / "en" / "shopping.yml")
HELDOUT_LINE = first_example(ROOT / "bench" / "heldout" / "zh_b.yml")
REALSHOP_LINE = first_example(ROOT / "bench" / "realshop" / "en.yml")

REVIEWS = [
    review(1, "这个帐篷下雨天能用吗", "product_details", lang="zh"),
    review(2, "想买双42码的黑色跑鞋", "check_stock", lang="zh",
           entities=[{"entity": "size", "value": "42", "start": 3, "end": 6},
                     {"entity": "color", "value": "black"}]),   # value is not in the text
    review(3, "does the blue tent come in XL", "check_stock", lang="en",
           entities=[{"entity": "color", "value": "blue"}, {"entity": "size", "value": "XL"}]),
    # reviewed as ask_price first, then corrected to ask_discount (a later review)
    review(4, "any deal on the trail shoes rn", "ask_price", lang="en",
           at="2026-12-03T10:00:00.000+08:00"),
    review(5, "any deal on the trail shoes rn", "ask_discount", lang="en",
           at="2026-12-03T11:00:00.000+08:00"),
    review(6, TRAINING_LINE, "check_stock", lang="en"),
    review(7, HELDOUT_LINE, "check_stock", lang="zh"),
    review(8, REALSHOP_LINE, "complaint", lang="en"),
    review(9, "我的  订单\n拍下三天了咋还是没动静呀", "order_status"),   # language from the text
]


def test_export_round_trip_through_rasas_loader(tmp_path):
    out = tmp_path / "reviewed"
    report = export_reviewed(REVIEWS, out, ROOT / "data" / "nlu")
    assert examples(out / "zh.yml") == [
        ("check_stock", "想买双42码的黑色跑鞋", (("size", 3, 6, "42"),)),
        ("order_status", "我的 订单 拍下三天了咋还是没动静呀", ()),
        ("product_details", "这个帐篷下雨天能用吗", ()),
    ]
    assert examples(out / "en.yml") == [
        ("ask_discount", "any deal on the trail shoes rn", ()),
        ("check_stock", "does the blue tent come in XL",
         (("color", 9, 13, "blue"), ("size", 27, 29, "XL"))),
    ]
    assert report.repeats_training == [TRAINING_LINE]
    assert sorted(report.repeats_evaluation) == sorted([HELDOUT_LINE, REALSHOP_LINE])
    assert report.written == {"zh": 3, "en": 2}


@pytest.fixture()
def small_training(tmp_path) -> Path:
    """A training dir holding one of data/nlu's files (the one TRAINING_LINE is from)."""
    training = tmp_path / "nlu"
    (training / "en").mkdir(parents=True)
    shutil.copy(ROOT / "data" / "nlu" / "en" / "shopping.yml", training / "en")
    return training


EVALUATION = [HELDOUT_LINE, REALSHOP_LINE]


def test_running_twice_writes_the_same_files(tmp_path, small_training):
    out = tmp_path / "reviewed"
    export_reviewed(REVIEWS, out, small_training, EVALUATION)
    first = {p.name: p.read_bytes() for p in out.iterdir()}
    assert sorted(first) == ["en.yml", "zh.yml"]
    # written into the training data it is given: the next run must not take its own
    # lines for repeats; the order the reviews come in does not matter
    export_reviewed(REVIEWS, small_training / "reviewed", small_training, EVALUATION)
    export_reviewed(list(reversed(REVIEWS)), small_training / "reviewed", small_training,
                    EVALUATION)
    assert {p.name: p.read_bytes() for p in (small_training / "reviewed").iterdir()} == first


def test_a_language_with_nothing_left_loses_its_file(tmp_path, small_training):
    out = tmp_path / "reviewed"
    export_reviewed(REVIEWS, out, small_training, EVALUATION)
    export_reviewed([r for r in REVIEWS if r["language"] == "en"], out, small_training,
                    EVALUATION)
    assert sorted(p.name for p in out.iterdir()) == ["en.yml"]


def test_annotate_by_hand():
    # a span whose text is not the value keeps the value
    assert annotate("有42码吗", [{"entity": "size", "value": "42", "start": 1, "end": 4}]) \
        == '有[42码]{"entity": "size", "value": "42"}吗'
    # no span given: the value's first place, case ignored
    assert annotate("in Blue please", [{"entity": "color", "value": "blue"}]) \
        == 'in [Blue]{"entity": "color", "value": "blue"} please'
    assert annotate("XL", [{"entity": "size", "value": "XL"}]) == "[XL](size)"
    # overlapping spans: the first one given is kept; a value found nowhere is left out
    assert annotate("black XL", [{"entity": "color", "value": "black XL"},
                                 {"entity": "size", "value": "XL"},
                                 {"entity": "city", "value": "成都"}]) == "[black XL](color)"


@pytest.mark.e2e
def test_rasa_data_validate_accepts_the_exported_files(tmp_path):
    data = tmp_path / "data"
    shutil.copytree(ROOT / "data", data)
    export_reviewed(REVIEWS, data / "nlu" / "reviewed", data / "nlu")
    run = subprocess.run([sys.executable, "-m", "rasa", "data", "validate", "--config",
                          str(ROOT / "config.yml"), "--domain", str(ROOT / "domain.yml"),
                          "--data", str(data), "--fail-on-warnings"], cwd=ROOT,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]


def test_the_command_exports_what_the_desk_reviewed(tmp_path, small_training, monkeypatch):
    """`shopassist nlu export-reviewed` end to end: entries reviewed in a desk database (a
    correction and a confirmation, one of each language), written by the desk's side in a
    process of its own, read back by Rasa's loader; a second run writes the same bytes."""
    import asyncio

    from click.testing import CliRunner

    from bot.cli import main
    from desk.store import DeskStore

    async def reviewed_desk(path):
        store = DeskStore(path)
        try:
            await store.accounts.ensure_demo_agents()
            boss = next(a for a in await store.accounts.agents() if a["username"] == "boss")
            conv, _ = await store.conversations.create("zh")
            for text, bot, label in [("这款帐篷能防暴雨吗", "complaint", "product_details"),
                                     ("can i swap the XL for an M", "return_policy", None)]:
                msg = (await store.conversations.add_shopper_message(
                    conv["conversation_id"], text))["message"]
                await store.reviews.remember_parse(msg["id"], {
                    "intent": bot, "confidence": 0.4,
                    "entities": [{"entity": "size", "value": "M", "start": 25, "end": 26}]
                    if label is None else []})
                entry = await store.reviews.enter(msg["id"], "not_understood")
                await store.reviews.review(entry["id"], boss, label or bot, None)
        finally:
            store.close()

    db = tmp_path / "desk.db"
    asyncio.run(reviewed_desk(db))
    monkeypatch.setenv("SHOPASSIST_DATA", str(small_training.parent))
    out = tmp_path / "out"
    for _ in range(2):
        result = CliRunner().invoke(main, ["nlu", "export-reviewed", "--db", str(db),
                                           "--out", str(out)])
        assert result.exit_code == 0, result.output
        if _ == 0:
            first = {p.name: p.read_bytes() for p in out.iterdir()}
    assert {p.name: p.read_bytes() for p in out.iterdir()} == first
    assert examples(out / "zh.yml") == [("product_details", "这款帐篷能防暴雨吗", ())]
    assert examples(out / "en.yml") == [("return_policy", "can i swap the XL for an M",
                                         (("size", 25, 26, "M"),))]
    result = CliRunner().invoke(main, ["nlu", "export-reviewed", "--db",
                                       str(tmp_path / "none.db")])
    assert result.exit_code == 1 and "no desk database" in result.output
