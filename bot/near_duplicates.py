"""When two NLU lines are the same message: after NFKC, lower-casing and removing spaces and
punctuation, their difflib similarity ratio is at least 0.9 (identical lines included).

One rule for everyone who keeps training data and evaluation sets apart or free of
repeats: `bench/heldout_overlap.py` and `tests/test_nlu_data.py` (no evaluation line has a
near-duplicate in data/nlu) and the export of reviewed messages (`bot/reviewed_data.py`:
a reviewed message that repeats a training line or an evaluation line is not written).
"""

from __future__ import annotations

import unicodedata
from difflib import SequenceMatcher
from pathlib import Path

from bot.settings import ROOT

SIMILARITY = 0.9
# the evaluation sets, never trained on: held-out (bench/heldout/), real shoppers
# (bench/realshop/, and var/realshop/ for sets whose licence does not allow committing them)
EVALUATION_DIRS = (ROOT / "bench" / "heldout", ROOT / "bench" / "realshop",
                   ROOT / "var" / "realshop")


def evaluation_files() -> list[Path]:
    return sorted(p for d in EVALUATION_DIRS for p in d.glob("*.yml"))


def key(text: str) -> str:
    """The form two lines are compared in: NFKC, lower case, no spaces, punctuation or
    symbols (emoji-only messages keep their emoji)."""
    text = unicodedata.normalize("NFKC", text).lower()
    stripped = "".join(ch for ch in text if not (ch.isspace()
                                                  or unicodedata.category(ch)[0] in "PS"))
    return stripped or text.strip()


def similarity(a: str, b: str) -> float:
    """difflib's ratio of the two lines' keys (1.0 for lines equal after normalising)."""
    return SequenceMatcher(None, key(a), key(b), autojunk=False).ratio()


def near_duplicates(queries: list[str], pool: list[str],
                    threshold: float = SIMILARITY) -> list[tuple[int, int, float]]:
    """(i, j, ratio) for every queries[i] and pool[j] whose similarity is >= threshold.

    difflib's ratio is 2·M / (len(a) + len(b)), where M (the characters in its matching
    blocks) is at most the characters a and b share, counted with multiplicity:
    sum over c of min(count_a(c), count_b(c)) (difflib's quick_ratio). With one binary
    feature per (character c, k) for k = 1..count(c), that sum is a dot product, so one
    sparse product bounds every pair at once and only the pairs it does not rule out are
    scored by difflib.
    """
    import numpy as np
    from scipy.sparse import csr_matrix

    qkeys = [key(t) for t in queries]
    pkeys = [key(t) for t in pool]
    features: dict[tuple[str, int], int] = {}

    def layers(keys: list[str]) -> csr_matrix:
        rows, cols = [], []
        for r, k in enumerate(keys):
            for ch in set(k):
                for n in range(1, k.count(ch) + 1):
                    rows.append(r)
                    cols.append(features.setdefault((ch, n), len(features)))
        return csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)),
                          shape=(len(keys), 1 << 22))

    shared = (layers(qkeys) @ layers(pkeys).T).tocoo()
    qlen = np.array([len(k) for k in qkeys], dtype=np.float32)
    plen = np.array([len(k) for k in pkeys], dtype=np.float32)
    ceiling = 2 * shared.data / (qlen[shared.row] + plen[shared.col])
    keep = ceiling >= threshold - 1e-6
    pairs = []
    for i, j in zip(shared.row[keep], shared.col[keep]):
        ratio = SequenceMatcher(None, qkeys[i], pkeys[j], autojunk=False).ratio()
        if ratio >= threshold:
            pairs.append((int(i), int(j), round(ratio, 3)))
    return sorted(pairs)
