"""The desk's side of `shopassist nlu export-reviewed`: the entries agents reviewed in the
console (desk/store/reviews.py), read from the desk's database and written as Rasa NLU data
by bot/reviewed_data.py. The bot's command runs this module in a process of its own
(`python -m desk.review_export`): the bot never imports the desk.

    python -m desk.review_export --db var/desk.db --out data/nlu/reviewed --training data/nlu
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Optional

from bot.reviewed_data import export_reviewed

from .store import DeskStore


def reviewed_entries(db: Path) -> list[dict]:
    """Every reviewed entry, as bot/reviewed_data.py takes them."""
    store = DeskStore(db)
    try:
        rows = asyncio.run(store.reviews.reviewed())
    finally:
        store.close()
    return [{"message_id": r["message_id"], "text": r["text"], "language": r["language"],
             "intent": r["intent"], "entities": r["entities"],
             "reviewed_at": r["reviewed_at"]} for r in rows]


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m desk.review_export",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", type=Path, required=True, help="the desk's database")
    ap.add_argument("--out", type=Path, required=True, help="where zh.yml and en.yml go")
    ap.add_argument("--training", type=Path, required=True,
                    help="the NLU training data a line must not repeat (data/nlu)")
    args = ap.parse_args(argv)
    if not args.db.is_file():
        print(f"no desk database at {args.db}", file=sys.stderr)
        return 1
    report = export_reviewed(reviewed_entries(args.db), args.out, args.training)
    for lang, n in report.written.items():
        print(f"{lang}: {n} lines -> {args.out / (lang + '.yml')}")
    if report.repeats_training:
        print(f"left out, already in the training data: {len(report.repeats_training)}")
    if report.repeats_evaluation:
        print(f"left out, a line of an evaluation set: {len(report.repeats_evaluation)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
