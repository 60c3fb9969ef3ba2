"""Train the Rasa model only when something it learns from changed, and install it only
when it understands the held-out sets as well as the model it replaces.

The fingerprint covers config.yml, domain.yml, everything under the training data
(data/, `SHOPASSIST_DATA`; data/nlu/reviewed/ too), the custom NLU code and the catalog's
entity patterns (a new product changes it, a stock change does not). The model is
models/shopassist.tar.gz with its fingerprint and its held-out scores
(shopassist.scores.json) beside it.

The gate: `rasa train` writes a candidate into a temporary directory beside the installed
model; the candidate is scored on the held-out sets (bench/heldout/, `bot/nlu_eval.py`,
parsed in this process) and compared with the installed model's scores. It replaces the
installed model only when no held-out set's intent accuracy falls by more than
`train_max_drop_points` (1.0); otherwise the old model stays and `TrainingRefused` says
which intents fell. A first install (no installed model) always installs;
`force_install` installs whatever the scores say.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from bot.settings import ROOT, get_settings

MODEL_NAME = "shopassist"


def model_path(models_dir: Path | None = None) -> Path:
    return (models_dir or get_settings().models_dir) / f"{MODEL_NAME}.tar.gz"


def scores_path(model: Path) -> Path:
    """The held-out scores of an installed model, beside it."""
    return model.with_name(model.name.removesuffix(".tar.gz") + ".scores.json")


def fingerprint(root: Path = ROOT, catalog_path: Path | None = None,
                data_dir: Path | None = None) -> str:
    from bot.nlu.matcher import patterns_from_catalog

    data_dir = data_dir or get_settings().training_data
    h = hashlib.sha256()
    for f in [root / "config.yml", root / "domain.yml"] + sorted(
            (root / "bot" / "nlu").glob("*.py")):
        h.update(str(f.relative_to(root)).encode())
        h.update(f.read_bytes())
    for f in sorted(data_dir.rglob("*.yml")):
        h.update(("data/" + f.relative_to(data_dir).as_posix()).encode())
        h.update(f.read_bytes())
    patterns = patterns_from_catalog(catalog_path or get_settings().catalog_path)
    h.update(json.dumps(sorted(json.dumps(p, sort_keys=True, ensure_ascii=False)
                               for p in patterns)).encode())
    return h.hexdigest()


def rasa_env() -> dict:
    env = dict(os.environ)
    env.setdefault("RASA_TELEMETRY_ENABLED", "false")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # one message at a time per process: thread pools only add contention between the
    # Rasa workers (measured: 2x the CPU per message with TF's default pools on 2 cores)
    for var in ("TF_INTRA_OP_PARALLELISM_THREADS", "TF_INTER_OP_PARALLELISM_THREADS",
                "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(var, "1")
    env.setdefault("PYTHONPATH", str(ROOT))
    if str(ROOT) not in env["PYTHONPATH"].split(os.pathsep):
        env["PYTHONPATH"] = str(ROOT) + os.pathsep + env["PYTHONPATH"]
    return env


def needs_training(models_dir: Path | None = None) -> bool:
    model = model_path(models_dir)
    stamp = model.with_suffix(".fingerprint")
    return not (model.exists() and stamp.exists() and stamp.read_text() == fingerprint())


# -- the gate ---------------------------------------------------------------------------

@dataclass(frozen=True)
class IntentChange:
    """One intent of one held-out set whose accuracy fell (fractions, 0..1)."""
    set: str
    intent: str
    accuracy_before: float
    accuracy_after: float
    f1_before: float
    f1_after: float

    def line(self) -> str:
        return (f"  {self.set:5} {self.intent:20} accuracy {self.accuracy_before:.1%} -> "
                f"{self.accuracy_after:.1%}, F1 {self.f1_before:.3f} -> {self.f1_after:.3f}")


@dataclass(frozen=True)
class GateDecision:
    """Whether a candidate model may replace the installed one, and why."""
    install: bool
    first_install: bool = False
    # held-out set -> (accuracy before, after), for every set scored both times
    sets: dict = field(default_factory=dict)
    # the sets whose accuracy fell by more than the allowed points
    dropped: tuple = ()
    # every intent whose accuracy fell, in every set
    fallen: tuple = ()

    def report(self, max_drop_points: float) -> list[str]:
        if self.first_install:
            return ["held-out gate: no installed model to compare with; installing"]
        lines = [f"held-out gate (a set may lose at most {max_drop_points:g} points):"]
        for name, (before, after) in self.sets.items():
            mark = "  FELL" if name in self.dropped else ""
            lines.append(f"  {name:5} accuracy {before:.1%} -> {after:.1%} "
                         f"({(after - before) * 100:+.1f} points){mark}")
        if self.fallen:
            lines.append("intents that fell:")
            lines += [c.line() for c in self.fallen]
        lines.append("installing the new model" if self.install else
                     "not installed: the installed model stays (shopassist train "
                     "--force-install installs it anyway)")
        return lines


def gate(before: dict | None, after: dict, max_drop_points: float) -> GateDecision:
    """Compare two score tables (`bot.nlu_eval.score_heldout`): install unless a held-out
    set's intent accuracy falls by more than `max_drop_points` percentage points; a first
    install (no table before) always installs."""
    if before is None:
        return GateDecision(install=True, first_install=True)
    sets, dropped, fallen = {}, [], []
    for name, new in after["sets"].items():
        old = before["sets"].get(name)
        if old is None:
            continue
        sets[name] = (old["accuracy"], new["accuracy"])
        # rounded: 0.9650 - 0.9540 is 1.1 points, not 1.0999999
        if round((old["accuracy"] - new["accuracy"]) * 100, 6) > max_drop_points:
            dropped.append(name)
        for intent, was in sorted(old["per_intent"].items()):
            now = new["per_intent"].get(intent)
            if now is not None and now["accuracy"] < was["accuracy"]:
                fallen.append(IntentChange(name, intent, was["accuracy"], now["accuracy"],
                                           was["f1"], now["f1"]))
    return GateDecision(install=not dropped, sets=sets, dropped=tuple(dropped),
                        fallen=tuple(fallen))


class TrainingRefused(Exception):
    """The candidate model understands the held-out sets worse: it was not installed."""

    def __init__(self, decision: GateDecision, report: list[str]):
        super().__init__("\n".join(report))
        self.decision = decision


def score(model: Path, heldout_dir: Path) -> dict:
    """The held-out score table of a model, parsed in this process."""
    from bot.nlu_eval import score_heldout

    return asyncio.run(score_heldout(model, heldout_dir))


def installed_scores(model: Path, heldout_dir: Path) -> dict | None:
    """The installed model's score table: the one kept beside it, or, when there is none or
    it was taken on other held-out sets, the model scored now. None when nothing is
    installed."""
    from bot.nlu_eval import heldout_digest

    if not model.exists():
        return None
    kept = scores_path(model)
    if kept.exists():
        table = json.loads(kept.read_text())
        if table.get("heldout_digest") == heldout_digest(heldout_dir):
            return table
    print(f"scoring the installed model {model} on the held-out sets", flush=True)
    return score(model, heldout_dir)


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def train(force: bool = False, models_dir: Path | None = None,
          config: str = "config.yml", quiet: bool = False,
          force_install: bool = False) -> Path:
    """Train when needed (or forced), gate the candidate on the held-out sets and install
    it; return the installed model's path. Raises `TrainingRefused` (the installed model
    untouched) when the candidate falls by more than the allowed points on a held-out set,
    unless `force_install`."""
    settings = get_settings()
    model = model_path(models_dir)
    if not force and not needs_training(models_dir):
        if not quiet:
            print(f"model is up to date: {model}")
        return model
    fp = fingerprint()
    model.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=model.parent, prefix=".candidate-") as tmp:
        cmd = [sys.executable, "-m", "rasa", "train", "--config", config, "--domain",
               "domain.yml", "--data", str(settings.training_data), "--out", tmp,
               "--fixed-model-name", MODEL_NAME, "--force"]
        print("training:", " ".join(cmd[2:]), flush=True)
        subprocess.run(cmd, cwd=ROOT, env=rasa_env(), check=True)
        candidate = model_path(Path(tmp))
        t0 = time.perf_counter()
        after = score(candidate, settings.heldout_dir)
        print(f"scored the new model on the held-out sets in {time.perf_counter() - t0:.1f}s",
              flush=True)
        decision = gate(installed_scores(model, settings.heldout_dir), after,
                        settings.train_max_drop_points)
        report = decision.report(settings.train_max_drop_points)
        if not decision.install and not force_install:
            raise TrainingRefused(decision, report)
        print("\n".join(report), flush=True)
        if not decision.install:
            print("--force-install: installing it anyway", flush=True)
        os.replace(candidate, model)
    # when it was installed: the desk counts the reviews of messages read since then
    after = {**after, "installed_at": settings.now().isoformat(timespec="milliseconds")}
    _write_atomically(scores_path(model), json.dumps(after, indent=1, ensure_ascii=False))
    _write_atomically(model.with_suffix(".fingerprint"), fp)
    return model
