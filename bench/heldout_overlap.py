"""Keep the evaluation sets apart from the training data: fail (exit 1) when a line of an
evaluation set (the held-out sets in bench/heldout/, the real-shopper sets in
bench/realshop/ and, when there are any, var/realshop/) has a near-duplicate in data/nlu,
and print the pairs. Two lines are near-duplicates when, after NFKC, lower-casing and
removing spaces and punctuation, their difflib similarity ratio is at least 0.9 (identical
lines included).

    .venv/bin/python bench/heldout_overlap.py            # report
    .venv/bin/python bench/heldout_overlap.py --remove   # delete those lines from data/nlu

Only training lines are ever removed: the evaluation sets are never edited. The pairs are
found in a few seconds: a cheap upper bound on the ratio (the characters two lines share,
from one sparse product) leaves few candidates for difflib to score.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from common import ROOT

from bot.near_duplicates import (EVALUATION_DIRS, SIMILARITY, evaluation_files,  # noqa: F401
                                 key, near_duplicates, similarity)
TRAINING_DIR = ROOT / "data" / "nlu"


def texts(path: Path) -> list[str]:
    """The example texts of a Rasa NLU file or directory, entity annotations removed."""
    from rasa.shared.nlu.training_data.loading import load_data

    return [e.get("text") for e in load_data(str(path)).training_examples]


def overlaps() -> list[tuple[str, str, str, float]]:
    """(evaluation file, evaluation line, training line, ratio) for every near-duplicate."""
    train = texts(TRAINING_DIR)
    held = [(str(path.relative_to(ROOT)), text)
            for path in evaluation_files() for text in texts(path)]
    return [(held[i][0], held[i][1], train[j], ratio)
            for i, j, ratio in near_duplicates([t for _, t in held], train)]


EXAMPLE_LINE = re.compile(r"^\s*- (.*?)\s*$")
BLOCK_START = re.compile(r"^- (intent|lookup|regex|synonym):")


def remove_from_training(lines_to_drop: set[str]) -> int:
    """Delete from data/nlu every intent example whose text is in lines_to_drop; returns the
    number of lines deleted."""
    from rasa.shared.nlu.training_data.entities_parser import replace_entities

    removed = 0
    for path in sorted(TRAINING_DIR.rglob("*.yml")):
        kept, block = [], None
        for line in path.read_text(encoding="utf-8").splitlines(keepends=True):
            start = BLOCK_START.match(line)
            if start:
                block = start.group(1)
            example = EXAMPLE_LINE.match(line) if block == "intent" and not start else None
            if example and replace_entities(example.group(1)) in lines_to_drop:
                removed += 1
                continue
            kept.append(line)
        path.write_text("".join(kept), encoding="utf-8")
    return removed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--remove", action="store_true",
                    help="delete the near-duplicate lines from data/nlu")
    args = ap.parse_args()
    found = overlaps()
    for path, held, train, ratio in found:
        print(f"{path}: {held!r} ~ {train!r} ({ratio:.2f})")
    print(f"{len(found)} near-duplicate pairs (similarity >= {SIMILARITY})")
    if args.remove and found:
        n = remove_from_training({train for _, _, train, _ in found})
        print(f"removed {n} lines from {TRAINING_DIR.relative_to(ROOT)}")
        return 0
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
