"""No import cycles between the project's own modules (bot, desk, actions, catalog).

Every .py file is parsed with `ast`; every import counts, wherever it is written (module
level, inside a function, under `if TYPE_CHECKING:`), because an import moved into a
function to dodge a cycle is still a cycle in the design. Relative imports are resolved
against the importing module's package. Importing `a.b.c` also runs the packages `a` and
`a.b` (their `__init__.py`), so those count as imported too, except the packages the
importing module itself lives in (Python has run them already, whatever the module does).
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Iterable, Optional

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("bot", "desk", "actions", "catalog")


def module_names(root: Path, packages: Iterable[str]) -> dict[str, Path]:
    """Dotted module name -> file, for every .py file under the packages."""
    out: dict[str, Path] = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


def _package_of(module: str, path: Path) -> str:
    """The package a module's relative imports start from."""
    return module if path.name == "__init__.py" else module.rpartition(".")[0]


def imported_names(module: str, path: Path) -> list[tuple[str, list[str], int]]:
    """(dotted name, names taken from it, line) of every import in `module`, relative
    imports resolved: `import a.b` is ("a.b", [], line), `from .x import y, z` in package
    p is ("p.x", ["y", "z"], line)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[str, list[str], int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((alias.name, [], node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = _package_of(module, path).split(".")
                base = base[:len(base) - (node.level - 1)]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            found.append((name, [a.name for a in node.names if a.name != "*"], node.lineno))
    return found


def _own_module(name: str, modules: dict[str, Path]) -> Optional[str]:
    """The project module `name` is (or lives in: "catalog.queries.Catalog" is
    catalog.queries), or None when it is not the project's."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def import_graph(root: Path = ROOT, packages: Iterable[str] = PACKAGES
                 ) -> dict[str, dict[str, int]]:
    """module -> {imported project module: line of the first such import}.

    `from x import y` imports the module x.y when there is one, else the name y of x."""
    modules = module_names(root, packages)
    graph: dict[str, dict[str, int]] = {m: {} for m in modules}
    for module, path in modules.items():
        own_packages = {module.rsplit(".", i)[0] for i in range(module.count(".") + 1)}
        for name, names, line in imported_names(module, path):
            submodules = [f"{name}.{n}" for n in names if f"{name}.{n}" in modules]
            targets = submodules if names and len(submodules) == len(names) else \
                submodules + [name]
            for target in filter(None, (_own_module(t, modules) for t in targets)):
                parts = target.split(".")
                for i in range(1, len(parts) + 1):
                    dep = ".".join(parts[:i])
                    if dep in modules and dep != module and (dep == target
                                                             or dep not in own_packages):
                        graph[module].setdefault(dep, line)
    return graph


def find_cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """Every strongly connected group of modules that import each other (Tarjan), each
    as one cycle through it: [a, b, ..., a]."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1 or v in graph.get(v, ()):
                groups.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return [_cycle_through(group, graph) for group in sorted(groups)]


def _cycle_through(group: list[str], graph: dict[str, dict[str, int]]) -> list[str]:
    """A shortest cycle from the group's first module back to it, inside the group."""
    start, members = group[0], set(group)
    paths = {start: [start]}
    queue = [start]
    while queue:
        v = queue.pop(0)
        for w in sorted(graph[v]):
            if w == start:
                return paths[v] + [start]
            if w in members and w not in paths:
                paths[w] = paths[v] + [w]
                queue.append(w)
    return group + [start]


def describe(cycle: list[str], graph: dict[str, dict[str, int]]) -> str:
    return " -> ".join(f"{a} (line {graph[a][b]})" for a, b in zip(cycle, cycle[1:])) \
        + f" -> {cycle[-1]}"


def test_no_import_cycles_in_the_project():
    graph = import_graph()
    assert {m.split(".")[0] for m in graph} == set(PACKAGES)
    cycles = find_cycles(graph)
    assert not cycles, "import cycles:\n" + "\n".join(describe(c, graph) for c in cycles)


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def test_the_checker_finds_a_cycle_hidden_in_a_function(tmp_path):
    _write(tmp_path, {
        "shop/__init__.py": "",
        "shop/base.py": "def run():\n    from .answers import reply\n    return reply()\n",
        "shop/answers.py": "from shop.base import run\n\ndef reply():\n    return 1\n",
        "shop/util.py": "import os\n",
        "other/__init__.py": "",
        "other/a.py": "from shop import util\nfrom shop.answers import reply\n",
    })
    graph = import_graph(tmp_path, ["shop", "other"])
    assert graph["shop.base"] == {"shop.answers": 2}
    assert graph["shop.answers"] == {"shop.base": 1}
    assert graph["other.a"] == {"shop": 1, "shop.util": 1, "shop.answers": 2}
    cycles = find_cycles(graph)
    assert cycles == [["shop.answers", "shop.base", "shop.answers"]]
    assert describe(cycles[0], graph) == \
        "shop.answers (line 1) -> shop.base (line 2) -> shop.answers"


def test_the_checker_resolves_relative_imports_and_package_inits(tmp_path):
    _write(tmp_path, {
        "pkg/__init__.py": "from .sub.deep import thing\n",
        "pkg/sub/__init__.py": "",
        "pkg/sub/deep.py": "from .. import top\nthing = 1\n",
        "pkg/top.py": "import os\n",
        "pkg/leaf.py": "from . import top\n",
    })
    graph = import_graph(tmp_path, ["pkg"])
    assert graph["pkg"] == {"pkg.sub": 1, "pkg.sub.deep": 1}
    assert graph["pkg.sub.deep"] == {"pkg.top": 1}     # its own packages do not count
    assert find_cycles(graph) == []
    _write(tmp_path, {"pkg/top.py": "import pkg.leaf\n", "pkg/leaf.py": "import pkg\n"})
    graph = import_graph(tmp_path, ["pkg"])
    # pkg -> pkg.sub.deep -> pkg.top -> pkg.leaf -> pkg: found through the package init
    assert find_cycles(graph) == [["pkg", "pkg.sub.deep", "pkg.top", "pkg.leaf", "pkg"]]


# The layers the README's layout promises: a package may import only those below it.
ALLOWED = {"catalog": set(), "bot": {"catalog"}, "actions": {"bot", "catalog"},
           "desk": {"bot", "catalog"}}


def layer_violations(graph: dict[str, dict[str, int]]) -> list[str]:
    out = []
    for module, deps in sorted(graph.items()):
        top = module.split(".")[0]
        for dep, line in sorted(deps.items()):
            dep_top = dep.split(".")[0]
            if dep_top != top and dep_top not in ALLOWED.get(top, set()):
                out.append(f"{module} (line {line}) imports {dep}")
    return out


def test_each_package_imports_only_the_layers_below_it():
    violations = layer_violations(import_graph())
    assert not violations, "imports across layers:\n" + "\n".join(violations)


def test_the_layer_check_finds_the_runtime_importing_the_desk(tmp_path):
    _write(tmp_path, {"bot/__init__.py": "", "bot/runner.py": "def go():\n    import desk.app\n",
                      "desk/__init__.py": "", "desk/app.py": "import bot.runner\n",
                      "catalog/__init__.py": "", "actions/__init__.py": ""})
    graph = import_graph(tmp_path)
    assert layer_violations(graph) == ["bot.runner (line 2) imports desk",
                                       "bot.runner (line 2) imports desk.app"]
