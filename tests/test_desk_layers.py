"""The desk's layers hold: the HTTP handlers reach the record only through DeskService,
SQL on the desk's record lives in the store (and the routing rules it runs), and nothing
outside the store opens transactions on it or uses private helpers of the store."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DESK = ROOT / "desk"
# a statement on one of the desk's own tables (the storefront's catalog queries are not)
TABLES = r"(agents|sessions|conversations|messages|suggestions|assignments|handoffs|" \
         r"contact_messages|canned_replies)"
SQL = re.compile(rf"\b(FROM|INTO|UPDATE|JOIN|TABLE)\s+{TABLES}\b|\bBEGIN\b", re.I)


def modules(*exclude: str) -> list[Path]:
    return [p for p in sorted(DESK.rglob("*.py"))
            if not any(str(p.relative_to(DESK)).startswith(e) for e in exclude)]


def sql_literals(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [f"{path.relative_to(ROOT)}:{n.lineno}" for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str)
            and SQL.search(n.value) and not n.value.lstrip().startswith(("The ", "A "))]


PRIVATE = {"_all", "_one", "_conn", "tx", "write_sync", "read_sync"}


def store_internals(path: Path) -> list[str]:
    """`<...>store.db`, `<...>store.run` and the store's former private helpers."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for n in ast.walk(tree):
        if not isinstance(n, ast.Attribute):
            continue
        base = n.value.attr if isinstance(n.value, ast.Attribute) else \
            n.value.id if isinstance(n.value, ast.Name) else ""
        if n.attr in PRIVATE or (n.attr in {"db", "run"} and base == "store"):
            found.append(f"{path.relative_to(ROOT)}:{n.lineno} {base}.{n.attr}")
    return found


def test_sql_lives_in_the_store_and_the_routing_rules():
    found = [s for p in modules("store/", "routing.py") for s in sql_literals(p)]
    assert not found, "SQL outside desk/store/ and desk/routing.py:\n" + "\n".join(found)
    # the finder finds it where it is
    assert sql_literals(DESK / "store" / "conversations.py")


def test_nothing_outside_the_store_runs_transactions_or_private_helpers(tmp_path):
    found = [s for p in modules("store/") for s in store_internals(p)]
    assert not found, "\n".join(found)
    # the finder finds them
    (tmp_path / "desk").mkdir()
    sample = tmp_path / "desk" / "x.py"
    sample.write_text("await self.store.db.write(f)\nawait store.run(store.history, c)\n"
                      "rows = s._all('SELECT 1')\nargs.db\n", encoding="utf-8")
    global ROOT
    old, ROOT = ROOT, tmp_path
    try:
        assert sorted(f.split(" ")[1] for f in store_internals(sample)) == \
            ["s._all", "store.db", "store.run"]
    finally:
        ROOT = old


def test_handlers_call_the_service_not_the_store():
    tree = ast.parse((DESK / "app.py").read_text(encoding="utf-8"))
    uses = []
    for fn in (n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))):
        if fn.name == "create_app":                 # builds the store and closes it
            continue
        uses += [f"{fn.name}:{n.lineno}" for n in ast.walk(fn)
                 if (isinstance(n, ast.Name) and n.id == "STORE")
                 or (isinstance(n, ast.Attribute) and n.attr in {"store", "accounts",
                                                                 "conversations",
                                                                 "suggestions"})]
    assert not uses, "handlers reaching the store: " + ", ".join(uses)
