"""Every shopper- and agent-facing sentence lives in its component's texts file
(`actions/texts.yml`, `desk/texts.yml`), in both languages, rendered by bot/texts.py; no
Python file of those components writes such a sentence itself."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from bot.texts import LANGUAGES, Texts, tidy

ROOT = Path(__file__).resolve().parents[1]
COMPONENTS = ["actions", "desk"]

CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
# an English sentence: a capitalised word, then at least three more words
SENTENCE = re.compile(r"^[A-Z][a-z']+(?:[ ,]+[A-Za-z'’¥{}0-9:.!?-]+){3,}")
SQL = re.compile(r"\b(SELECT|INSERT|UPDATE|DELETE|CREATE|FROM|WHERE)\b")
LOG_METHODS = {"debug", "info", "warning", "error", "exception", "critical", "log"}
# patterns that understand the shopper's words are not sentences for them to read
REGEX_FUNCTIONS = {"compile", "search", "match", "fullmatch", "sub", "findall", "split"}
# documentation for developers (the OpenAPI summaries), not for shoppers or agents
NOT_FACING = {"desk/openapi.py"}


# components whose texts have not all moved to their texts.yml yet (strict: remove the
# name here once they have)
PENDING_FILE: set = set()
PENDING_SENTENCES: set = set()


def component(name: str, pending: set):
    if name in pending:
        return pytest.param(name, marks=pytest.mark.xfail(strict=True,
                                                          reason="texts still in Python"))
    return name


@pytest.mark.parametrize("name", [component(c, PENDING_FILE) for c in COMPONENTS])
def test_every_text_exists_in_both_languages_with_the_same_fields(name):
    texts = Texts(ROOT / name / "texts.yml")
    assert texts.entries, f"{name}/texts.yml is empty"
    for key, entry in texts.entries.items():
        for lang in LANGUAGES:
            assert isinstance(entry.get(lang), str) and entry[lang].strip(), (key, lang)
        assert texts.fields(key, "zh") == texts.fields(key, "en"), key
        for b in entry.get("buttons") or []:
            assert b.get("payload") and all(b.get(lang) for lang in LANGUAGES), (key, b)


def _literals(tree: ast.AST):
    """String constants that are not docstrings, log messages, exception messages,
    help texts or SQL."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = getattr(node, "body", [])
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                skip.add(id(body[0].value))
        elif isinstance(node, ast.Raise):
            skip.update(id(n) for n in ast.walk(node))
        elif isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Attribute) and (
                    func.attr in LOG_METHODS or (func.attr in REGEX_FUNCTIONS and isinstance(
                        func.value, ast.Name) and func.value.id == "re")):
                skip.update(id(n) for n in ast.walk(node))
            for kw in node.keywords:
                if kw.arg in ("help", "description"):
                    skip.update(id(n) for n in ast.walk(kw.value))
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and id(node) not in skip:
            yield node


def sentences_in(path: Path) -> list[str]:
    found = []
    for node in _literals(ast.parse(path.read_text(encoding="utf-8"))):
        value = node.value.strip()
        if CJK.search(value) or (SENTENCE.match(value) and not SQL.search(value)):
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {value[:60]!r}")
    return found


@pytest.mark.parametrize("name", [component(c, PENDING_SENTENCES) for c in COMPONENTS])
def test_no_shopper_or_agent_sentences_in_python(name):
    found = [s for p in sorted((ROOT / name).rglob("*.py"))
             if str(p.relative_to(ROOT)) not in NOT_FACING for s in sentences_in(p)]
    assert not found, "sentences belong in texts.yml:\n" + "\n".join(found)


def test_the_sentence_finder_finds_sentences(tmp_path):
    p = tmp_path / "x.py"
    p.write_text('"""Doc: This is a docstring sentence here."""\n'
                 'a = "亲，有货哦"\n'
                 'b = "Sorry, this one is sold out."\n'
                 'c = "SELECT id FROM messages WHERE x"\n'
                 'logger.info("Rasa is not up yet at all")\n'
                 'd = "stock:P001"\n', encoding="utf-8")
    global ROOT
    old, ROOT = ROOT, tmp_path
    try:
        found = sentences_in(p)
    finally:
        ROOT = old
    assert [f.split(":")[1] for f in found] == ["2", "3"]


@pytest.mark.parametrize("lang, raw, clean", [
    ("zh", "苔原冲锋衣 黑色L码 有现货。。", "苔原冲锋衣黑色L码有现货。"),
    ("zh", "亲，疾风跑鞋 42码 只剩2件了～。", "亲，疾风跑鞋42码只剩2件了～"),
    ("zh", "Nike Air Zoom 42码 有货", "Nike Air Zoom 42码有货"),
    ("en", "Sold out: black , white .. Anything else?", "Sold out: black, white. Anything else?"),
    ("en", "Wait...  really", "Wait... really"),
])
def test_tidy(lang, raw, clean):
    assert tidy(raw, lang) == clean
