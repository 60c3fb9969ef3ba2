"""Train the Rasa model only when something it learns from changed.

The fingerprint covers config.yml, domain.yml, everything under data/, the custom NLU
code and the catalog's entity patterns (a new product changes it, a stock change does
not). The model is models/shopassist.tar.gz with its fingerprint beside it.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

from bot.settings import ROOT, get_settings

MODEL_NAME = "shopassist"


def model_path(models_dir: Path | None = None) -> Path:
    return (models_dir or get_settings().models_dir) / f"{MODEL_NAME}.tar.gz"


def fingerprint(root: Path = ROOT, catalog_path: Path | None = None) -> str:
    from bot.nlu.matcher import patterns_from_catalog

    h = hashlib.sha256()
    files = [root / "config.yml", root / "domain.yml"]
    files += sorted((root / "data").rglob("*.yml"))
    files += sorted((root / "bot" / "nlu").glob("*.py"))
    for f in files:
        h.update(str(f.relative_to(root)).encode())
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


def train(force: bool = False, models_dir: Path | None = None,
          config: str = "config.yml", quiet: bool = False) -> Path:
    """Train when needed (or forced); return the model's path."""
    model = model_path(models_dir)
    if not force and not needs_training(models_dir):
        if not quiet:
            print(f"model is up to date: {model}")
        return model
    fp = fingerprint()
    model.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "rasa", "train", "--config", config, "--domain",
           "domain.yml", "--data", "data", "--out", str(model.parent), "--fixed-model-name",
           MODEL_NAME, "--force"]
    print("training:", " ".join(cmd[2:]), flush=True)
    subprocess.run(cmd, cwd=ROOT, env=rasa_env(), check=True)
    model.with_suffix(".fingerprint").write_text(fp)
    return model
