"""Fail (exit 1) when a held-out example also appears in the training data, after
lower-casing and removing spaces and punctuation, and print the overlaps.

    .venv/bin/python bench/heldout_overlap.py
"""

from __future__ import annotations

import sys
import unicodedata

from common import ROOT


def key(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower()
    stripped = "".join(ch for ch in text if not (ch.isspace()
                                                  or unicodedata.category(ch)[0] in "PS"))
    return stripped or text.strip()   # emoji-only messages keep their emoji


def main() -> int:
    from rasa.shared.nlu.training_data.loading import load_data

    train = {key(e.get("text")): e.get("text") for e in
             load_data(str(ROOT / "data" / "nlu")).training_examples}
    overlaps = 0
    for path in sorted((ROOT / "bench" / "heldout").glob("*.yml")):
        for e in load_data(str(path)).training_examples:
            if key(e.get("text")) in train:
                overlaps += 1
                print(f"overlap ({path.name}): {e.get('text')!r} ~ "
                      f"{train[key(e.get('text'))]!r}")
    print(f"{overlaps} overlapping examples")
    return 1 if overlaps else 0


if __name__ == "__main__":
    sys.exit(main())
