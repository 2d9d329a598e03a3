"""Dependencies run one way: the floors of docs/architecture.md, read from the source.

Every ``import`` of every module in the project's packages is read with :mod:`ast`, at the
top of a module, inside a function (a lazy import is still a dependency) or under
``TYPE_CHECKING``. Two string tables that import by name count as imports too: the ``anbu``
command's :data:`anbu.commands.PLUGINS` (imported by ``anbu.cli``). The suite fails on

- an import cycle between modules (lazy imports included, unless listed in
  :data:`ALLOWED_LAZY` with the reason);
- an import cycle between units (packages, or the parts of ``anbu`` on different floors);
- a unit importing one on a higher floor, or one beside it on the same floor;
- a module over 400 lines (not migrations, not tests) without a ``# one thing:`` note.

Each check has a positive control: the same function run on a small made-up tree that breaks
the rule must report it.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

PACKAGES = (
    "anbu", "config", "ingest", "detectors", "alerts", "devices", "timeseries", "web",
    "simulator", "bench", "testkit",
)

# unit -> (floor, module prefixes). A module belongs to the unit of its longest matching
# prefix. A unit may import itself and any unit on a lower floor; nothing on its own floor
# (no sideways imports, so no package cycles) or above.
UNITS: dict[str, tuple[int, tuple[str, ...]]] = {
    # kernel: events, errors, registry records and reader, Influx and Kafka helpers, time
    "kernel": (0, ("anbu",)),
    "config": (1, ("config",)),
    # services that need no other service
    "ingest": (2, ("ingest",)),
    "devices": (2, ("devices",)),
    "detectors": (2, ("detectors",)),
    "timeseries": (2, ("timeseries",)),
    # services on services
    "alerts": (3, ("alerts",)),  # the registry (devices), the check-in wording (ingest)
    "web": (4, ("web",)),  # mounts the routers of devices and alerts, reads timeseries
    "simulator": (4, ("simulator",)),  # demo households go into the registry (devices)
    # the embedded stack: starting Kafka, Mosquitto, InfluxDB and the programs
    "stack": (5, ("anbu.stack",)),
    # what tests and benchmarks share: private services and stacks, publishing, waiting
    "testkit": (6, ("testkit",)),
    "bench": (7, ("bench",)),  # benchmarks start private stacks
    # the command line on top of everything
    "cli": (8, ("anbu.cli", "anbu.commands", "anbu.__main__", "anbu.stack.cli")),
}

# (importer, imported) -> why the lazy import inside a function is allowed to close a cycle.
ALLOWED_LAZY: dict[tuple[str, str], str] = {}

# (module holding the table, table name, module that imports its entries)
STRING_TABLES = (("anbu.commands", "PLUGINS", "anbu.cli"),)


@dataclass(frozen=True, slots=True)
class Import:
    """One import of a project module by another."""

    source: str
    target: str
    lazy: bool  # inside a function or under ``if TYPE_CHECKING``
    line: int


def modules(root: Path, packages: Iterable[str]) -> dict[str, Path]:
    """Dotted name -> file of every module of ``packages`` under ``root`` (not migrations)."""
    found: dict[str, Path] = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _owner(name: str, known: dict[str, Path]) -> str | None:
    """The project module that ``name`` (a module or a name inside one) lives in."""
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def _imported_names(node: ast.Import | ast.ImportFrom, module: str, is_package: bool) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        parts = module.split(".") if is_package else module.split(".")[:-1]
        parts = parts[: len(parts) - (node.level - 1)]
        base = ".".join([*parts, *([node.module] if node.module else [])])
    # ``from pkg import mod`` imports the module pkg.mod; ``from mod import name`` the module.
    return [f"{base}.{alias.name}" for alias in node.names]


def _walk(node: ast.AST, lazy: bool = False) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
    for child in ast.iter_child_nodes(node):
        # Not run when the module is imported: inside a function, or for the type checker.
        inner = lazy or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
        if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
            inner = True
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child, inner
        yield from _walk(child, inner)


def _string_table(path: Path, name: str) -> list[str]:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.AnnAssign | ast.Assign):
            targets = [node.target] if isinstance(node, ast.AnnAssign) else node.targets
            if any(isinstance(t, ast.Name) and t.id == name for t in targets):
                assert node.value is not None
                value = ast.literal_eval(node.value)
                return list(value.values() if isinstance(value, dict) else value)
    raise AssertionError(f"{path}: no table {name}")


def imports(known: dict[str, Path], tables: Iterable[tuple[str, str, str]] = ()) -> list[Import]:
    """Every import of a project module by another project module."""
    found: list[Import] = []
    for module, path in known.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        is_package = path.name == "__init__.py"
        for node, lazy in _walk(tree):
            for name in _imported_names(node, module, is_package):
                target = _owner(name, known)
                if target is not None and target != module:
                    found.append(Import(module, target, lazy, node.lineno))
    for holder, table, importer in tables:
        for name in _string_table(known[holder], table):
            target = _owner(name, known)
            assert target is not None, f"{holder}.{table} names {name}, which does not exist"
            found.append(Import(importer, target, True, 0))
    return found


def unit_of(module: str, units: dict[str, tuple[int, tuple[str, ...]]]) -> str:
    """The unit whose longest prefix matches ``module``."""
    best, length = "", -1
    for unit, (_floor, prefixes) in units.items():
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > length:
                best, length = unit, len(prefix)
    assert best, f"{module} belongs to no unit: add it to UNITS"
    return best


def cycles(edges: Iterable[tuple[str, str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan, iterative)."""
    graph: dict[str, set[str]] = defaultdict(set)
    for a, b in edges:
        graph[a].add(b)
        graph.setdefault(b, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            for nxt in successors:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        top = stack.pop()
                        on_stack.discard(top)
                        component.append(top)
                        if top == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def module_cycles(found: list[Import], allowed: dict[tuple[str, str], str]) -> list[list[str]]:
    """Cycles between modules, leaving out the listed lazy imports."""
    return cycles(
        (i.source, i.target) for i in found if not (i.lazy and (i.source, i.target) in allowed)
    )


def wrong_way(
    found: list[Import], units: dict[str, tuple[int, tuple[str, ...]]]
) -> list[str]:
    """Imports of a unit on the same or a higher floor, as readable lines."""
    problems = []
    for i in found:
        a, b = unit_of(i.source, units), unit_of(i.target, units)
        if a != b and units[b][0] >= units[a][0]:
            where = "beside" if units[b][0] == units[a][0] else "above"
            kind = "lazy " if i.lazy else ""
            problems.append(f"{i.source}:{i.line} {kind}imports {i.target} ({b} is {where} {a})")
    return sorted(set(problems))


def _project() -> list[Import]:
    return imports(modules(ROOT, PACKAGES), STRING_TABLES)


def test_no_import_cycle_between_modules() -> None:
    assert module_cycles(_project(), ALLOWED_LAZY) == []


def test_no_import_cycle_between_units() -> None:
    found = _project()
    edges = {(unit_of(i.source, UNITS), unit_of(i.target, UNITS)) for i in found}
    assert cycles((a, b) for a, b in edges if a != b) == []


def test_no_unit_imports_one_above_or_beside_it() -> None:
    assert wrong_way(_project(), UNITS) == []


def test_the_project_is_read() -> None:
    """Positive control for the three tests above: the imports they check are there."""
    found = _project()
    pairs = {(i.source, i.target) for i in found}
    assert ("config.exceptions", "anbu.errors") in pairs  # config on the kernel
    assert ("web.app", "devices.api") in pairs  # the web app's routers, plainly imported
    assert ("anbu.cli", "detectors.cli") in pairs  # the CLI's table read as imports
    assert any(i.lazy for i in found)  # imports inside functions are read
    assert all(unit_of(m, UNITS) for m in modules(ROOT, PACKAGES))
    assert ALLOWED_LAZY.keys() <= pairs, "an allowed lazy import that no longer exists"


MADE_UP = {
    "low/__init__.py": "",
    "low/a.py": "from low.b import thing\n",
    "low/b.py": "def thing():\n    from low import a\n",
    "low/c.py": "import low.a\n",
    "low/core.py": "def f():\n    from high.top import x\n",
    "mid/__init__.py": "from .a import y\n",
    "mid/a.py": "import low.core\nfrom side import z\n",
    "side/__init__.py": "",
    "high/__init__.py": "",
    "high/top.py": "TABLE = {'x': 'mid.a'}\n",
}
"""A made-up project with both faults: a cycle through a lazy import (``low.a`` and
``low.b``), and imports up (``low.core``) and sideways (``mid.a``)."""


def _tree(root: Path, files: dict[str, str]) -> dict[str, Path]:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return modules(root, {name.split("/")[0] for name in files})


@pytest.fixture
def made_up(tmp_path: Path) -> dict[str, Path]:
    """:data:`MADE_UP` written under ``tmp_path``; its modules by name."""
    return _tree(tmp_path, MADE_UP)


def test_a_cycle_through_a_lazy_import_is_found(made_up: dict[str, Path]) -> None:
    found = imports(made_up)
    assert module_cycles(found, {}) == [["low.a", "low.b"]]
    # Listing the lazy import with a reason is what lets it stand.
    assert module_cycles(found, {("low.b", "low.a"): "test"}) == []


def test_an_import_up_or_sideways_is_found(made_up: dict[str, Path]) -> None:
    units: dict[str, tuple[int, tuple[str, ...]]] = {
        "low": (0, ("low",)), "mid": (1, ("mid",)), "side": (1, ("side",)),
        "high": (2, ("high",)),
    }
    found = imports(made_up, [("high.top", "TABLE", "high.top")])
    assert wrong_way(found, units) == [
        "low.core:2 lazy imports high.top (high is above low)",
        "mid.a:2 imports side (side is beside mid)",
    ]
    assert cycles([("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")]) == [["a", "b", "c"]]


def test_every_bench_command_is_listed() -> None:
    """``bench/cli.py`` imports its subcommands plainly: a new ``*_cli.py`` must be listed."""
    from bench.cli import COMMANDS

    on_disk = {p.stem for p in (ROOT / "bench").glob("*_cli.py")}
    listed = {m.__name__.rpartition(".")[2] for m in COMMANDS}
    assert "sos_cli" in on_disk  # positive control: the glob finds the files
    assert listed == on_disk


MAX_LINES = 400
"""Issue 15: no module longer than this outside migrations and tests, unless it says why."""
ONE_THING = "# one thing:"
"""A module over :data:`MAX_LINES` may stand if a line starting so says why it is one thing."""


def long_modules(known: dict[str, Path]) -> list[str]:
    """Modules over :data:`MAX_LINES` lines without a ``# one thing:`` note, with their length."""
    out = []
    for name, path in sorted(known.items()):
        text = path.read_text(encoding="utf-8")
        lines = text.count("\n")
        if lines > MAX_LINES and ONE_THING not in text:
            out.append(f"{name}: {lines} lines")
    return out


def test_no_module_is_over_400_lines(tmp_path: Path) -> None:
    assert long_modules(modules(ROOT, PACKAGES)) == []
    # positive control: a long module is reported, one with its note is not
    known = _tree(tmp_path, {
        "low/__init__.py": "",
        "low/long.py": "x = 1\n" * (MAX_LINES + 1),
        "low/noted.py": "# one thing: a table\n" + "x = 1\n" * (MAX_LINES + 1),
    })
    assert long_modules(known) == [f"low.long: {MAX_LINES + 1} lines"]
