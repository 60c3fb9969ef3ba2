"""Reviewed shopper messages as Rasa NLU training data: `shopassist nlu export-reviewed`
writes the messages agents confirmed or corrected in the console's review list
(desk/store/reviews.py) to data/nlu/reviewed/<language>.yml, one file per language, in
Rasa 3 NLU YAML, entities annotated `[text](entity)` where the reviewer kept or gave them.

The export is a pure function of the reviews and the other data: running it twice writes
the same files; a message reviewed again has only its latest label; the same text reviewed
in two messages is written once, with the label of the latest review. A line is left out
when it repeats (`bot/near_duplicates.py`) a line of the rest of the training data (it
would teach nothing, or contradict it) or a line of an evaluation set (bench/heldout/,
bench/realshop/: those are never trained on; tests/test_nlu_data.py checks it).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from bot.near_duplicates import evaluation_files, key, near_duplicates

LANGUAGES = ("zh", "en")
HEADER = ('version: "3.1"\n\n'
          "# Written by `shopassist nlu export-reviewed` from the messages reviewed in the\n"
          "# agent console (docs/nlu.md, \"Learning from the desk\"); the next export\n"
          "# rewrites this file: correct a label in the console, not here.\n")


@dataclass
class ExportReport:
    written: dict = field(default_factory=dict)          # language -> lines written
    repeats_training: list = field(default_factory=list)   # texts left out
    repeats_evaluation: list = field(default_factory=list)
    files: list = field(default_factory=list)


def language_of(text: str, given: str | None) -> str:
    """The language a message was read in when known, else Chinese when the text has a
    CJK character, else English."""
    if given in LANGUAGES:
        return given
    return "zh" if re.search(r"[\u4e00-\u9fff]", text) else "en"


def one_line(text: str) -> str:
    return " ".join(text.split())


def annotate(text: str, entities: list[dict]) -> str:
    """The text with each entity marked `[span](entity)` (`[span]{"entity", "value"}` when
    the value is not the span itself). An entity's span is its start/end when given, else
    the first place its value occurs (case ignored); entities found nowhere, or
    overlapping one already marked, are left out."""
    spans = []
    for e in entities or []:
        name, value = e.get("entity"), e.get("value")
        start, end = e.get("start"), e.get("end")
        if not (isinstance(start, int) and isinstance(end, int)
                and 0 <= start < end <= len(text)):
            at = text.lower().find(str(value).lower()) if value not in (None, "") else -1
            if at < 0:
                continue
            start, end = at, at + len(str(value))
        if any(start < e2 and s2 < end for s2, e2, _, _ in spans):
            continue
        spans.append((start, end, name, value))
    out, pos = [], 0
    for start, end, name, value in sorted(spans):
        span = text[start:end]
        out.append(text[pos:start])
        if value is None or str(value) == span:
            out.append(f"[{span}]({name})")
        else:
            out.append(f"[{span}]" + json.dumps({"entity": name, "value": str(value)},
                                                 ensure_ascii=False))
        pos = end
    out.append(text[pos:])
    return "".join(out)


def training_texts(training_dir: Path, leave_out: Path) -> list[str]:
    """The example texts of every NLU file under training_dir but those under leave_out
    (the reviewed files themselves: exporting again must not find its own lines)."""
    from rasa.shared.nlu.training_data.loading import load_data

    texts = []
    for path in sorted(training_dir.rglob("*.yml")):
        if leave_out.resolve() in path.resolve().parents:
            continue
        texts += [e.get("text") for e in load_data(str(path)).training_examples]
    return texts


def evaluation_texts() -> list[str]:
    from rasa.shared.nlu.training_data.loading import load_data

    return [e.get("text") for path in evaluation_files()
            for e in load_data(str(path)).training_examples]


def latest_labels(reviews: list[dict]) -> list[dict]:
    """One review per text (compared as `key` does), the latest one; reviews are
    {"text", "language", "intent", "entities", "reviewed_at", "message_id"}."""
    latest: dict[str, dict] = {}
    for r in sorted(reviews, key=lambda r: (r["reviewed_at"], r["message_id"])):
        text = one_line(r["text"])
        if text:
            latest[key(text)] = {**r, "text": text}
    return list(latest.values())


def render(lines: list[tuple[str, str]]) -> str:
    """One language's file: (intent, annotated text) pairs, by intent then text."""
    out = [HEADER, "nlu:\n"]
    by_intent: dict[str, list[str]] = {}
    for intent, text in sorted(set(lines)):
        by_intent.setdefault(intent, []).append(text)
    for intent, texts in by_intent.items():
        out.append(f"- intent: {intent}\n  examples: |\n")
        out += [f"    - {t}\n" for t in texts]
    return "".join(out)


def export_reviewed(reviews: list[dict], out_dir: Path, training_dir: Path,
                    evaluation: list[str] | None = None) -> ExportReport:
    """Write out_dir/<language>.yml from the reviews (see the module docstring); a
    language with nothing to write has no file."""
    report = ExportReport()
    labels = latest_labels(reviews)
    texts = [r["text"] for r in labels]
    in_training = {i for i, _, _ in near_duplicates(texts, training_texts(training_dir,
                                                                          out_dir))}
    evaluation = evaluation_texts() if evaluation is None else evaluation
    in_evaluation = {i for i, _, _ in near_duplicates(texts, evaluation)}
    lines: dict[str, list[tuple[str, str]]] = {lang: [] for lang in LANGUAGES}
    for i, r in enumerate(labels):
        if i in in_evaluation:
            report.repeats_evaluation.append(r["text"])
        elif i in in_training:
            report.repeats_training.append(r["text"])
        else:
            lines[language_of(r["text"], r.get("language"))].append(
                (r["intent"], annotate(r["text"], r.get("entities") or [])))
    out_dir.mkdir(parents=True, exist_ok=True)
    for lang in LANGUAGES:
        path = out_dir / f"{lang}.yml"
        report.written[lang] = len(set(lines[lang]))
        if lines[lang]:
            text = render(lines[lang])
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                path.write_text(text, encoding="utf-8")
            report.files.append(path)
        elif path.exists():
            path.unlink()
    return report
