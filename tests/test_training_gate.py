"""The training gate (bot/training.py): a candidate model replaces the installed one only when
no held-out set's intent accuracy falls by more than one point; otherwise the installed model
stays, `shopassist train` exits 1 and names the intents that fell. The score tables here are
written by hand (accuracies as fractions, the drops worked out in the comments)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot import training
from bot.training import gate


def table(sets: dict) -> dict:
    """A score table as `bot.nlu_eval.score_heldout` writes it: {set: (accuracy, {intent:
    (accuracy, f1)})}."""
    return {"heldout_digest": "hand-made",
            "sets": {name: {"n": 20, "accuracy": acc, "macro_f1": 0.0,
                            "per_intent": {i: {"n": 10, "accuracy": a, "f1": f}
                                           for i, (a, f) in intents.items()}}
                     for name, (acc, intents) in sets.items()}}


BEFORE = table({
    "zh": (0.965, {"check_stock": (1.0, 0.95), "complaint": (0.9, 0.9)}),
    "en_b": (0.950, {"order_status": (0.9, 0.9), "thank": (1.0, 1.0)}),
})


def test_a_drop_of_1_1_points_refuses_and_names_the_intents_that_fell():
    # en_b 95.0 -> 93.9: 1.1 points; zh 96.5 -> 96.6 rises, but its complaint fell
    after = table({
        "zh": (0.966, {"check_stock": (1.0, 0.97), "complaint": (0.8, 0.85)}),
        "en_b": (0.939, {"order_status": (0.7, 0.75), "thank": (1.0, 0.98)}),
    })
    decision = gate(BEFORE, after, 1.0)
    assert not decision.install and not decision.first_install
    assert decision.dropped == ("en_b",)
    assert [(c.set, c.intent, c.accuracy_before, c.accuracy_after)
            for c in decision.fallen] == [("zh", "complaint", 0.9, 0.8),
                                          ("en_b", "order_status", 0.9, 0.7)]
    text = "\n".join(decision.report(1.0))
    assert "en_b  accuracy 95.0% -> 93.9% (-1.1 points)  FELL" in text
    assert "order_status" in text and "90.0% -> 70.0%" in text
    assert "complaint" in text and "90.0% -> 80.0%" in text
    assert "thank" not in text   # its accuracy did not fall (only its F1)
    assert "not installed" in text


def test_a_drop_of_0_9_points_installs():
    # en_b 95.0 -> 94.1: 0.9 points; zh unchanged
    after = table({
        "zh": (0.965, {"check_stock": (1.0, 0.95), "complaint": (0.9, 0.9)}),
        "en_b": (0.941, {"order_status": (0.8, 0.85), "thank": (1.0, 1.0)}),
    })
    decision = gate(BEFORE, after, 1.0)
    assert decision.install and decision.dropped == ()
    assert [c.intent for c in decision.fallen] == ["order_status"]   # still reported


def test_exactly_the_allowed_drop_installs():
    # 95.0 -> 94.0 is 1.0 point, which is not "more than one point"
    after = table({"zh": (0.965, {}), "en_b": (0.940, {})})
    assert gate(BEFORE, after, 1.0).install


def test_a_first_install_always_installs():
    after = table({"zh": (0.10, {}), "en_b": (0.05, {})})
    decision = gate(None, after, 1.0)
    assert decision.install and decision.first_install


def test_the_allowed_drop_is_a_setting(monkeypatch):
    monkeypatch.setenv("SHOPASSIST_TRAIN_MAX_DROP_POINTS", "2.5")
    after = table({"zh": (0.965, {}), "en_b": (0.930, {})})   # 2.0 points
    assert gate(BEFORE, after, training.get_settings().train_max_drop_points).install


# -- the gate wired into `shopassist train` (rasa train and the scoring replaced) ----------

@pytest.fixture()
def models(tmp_path, monkeypatch):
    """An installed model with its scores in a temporary models dir; `rasa train` writes a
    candidate whose bytes say it is new, and scoring it returns CANDIDATE_SCORES."""
    monkeypatch.setenv("SHOPASSIST_MODELS", str(tmp_path))
    installed = tmp_path / "shopassist.tar.gz"
    installed.write_bytes(b"old model")
    training.scores_path(installed).write_text(json.dumps(BEFORE))
    digest = BEFORE["heldout_digest"]
    monkeypatch.setattr("bot.nlu_eval.heldout_digest", lambda d: digest)
    state = {}

    real_run = training.subprocess.run

    def fake_rasa_train(cmd, **kwargs):
        if "train" not in cmd:
            return real_run(cmd, **kwargs)
        out = Path(cmd[cmd.index("--out") + 1])
        assert out.parent == tmp_path and out != tmp_path   # never over the installed model
        (out / "shopassist.tar.gz").write_bytes(b"new model")

    def fake_score(model, heldout_dir):
        assert Path(model).read_bytes() == b"new model"
        return state["after"]

    monkeypatch.setattr(training.subprocess, "run", fake_rasa_train)
    monkeypatch.setattr(training, "score", fake_score)
    return tmp_path, state


def test_train_refuses_keeps_the_installed_model_and_exits_1(models):
    from bot.cli import main

    path, state = models
    state["after"] = table({"zh": (0.965, {}), "en_b": (0.930, {"thank": (0.5, 0.6)})})
    result = CliRunner().invoke(main, ["train", "--force"])
    assert result.exit_code == 1
    assert "en_b  accuracy 95.0% -> 93.0% (-2.0 points)  FELL" in result.stderr
    assert "thank" in result.stderr and "100.0% -> 50.0%" in result.stderr
    assert (path / "shopassist.tar.gz").read_bytes() == b"old model"
    assert json.loads(training.scores_path(path / "shopassist.tar.gz").read_text()) == BEFORE
    assert [p.name for p in path.iterdir() if p.name.startswith(".candidate")] == []


def test_force_install_installs_anyway_and_keeps_its_scores(models):
    from bot.cli import main

    path, state = models
    state["after"] = table({"zh": (0.965, {}), "en_b": (0.930, {})})
    result = CliRunner().invoke(main, ["train", "--force", "--force-install"])
    assert result.exit_code == 0, result.stderr
    assert (path / "shopassist.tar.gz").read_bytes() == b"new model"
    kept = json.loads(training.scores_path(path / "shopassist.tar.gz").read_text())
    assert kept.pop("installed_at").startswith("20")
    assert kept == state["after"]
    assert (path / "shopassist.tar.fingerprint").read_text() == training.fingerprint()
