"""The code stays ruff- and mypy-clean (the team's standard), checked by the suite itself, and
the tests stay apart: no test module imports another, none skips on a broken import of ours."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=600
    )


def test_ruff_is_clean() -> None:
    result = _run("ruff", "check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_is_clean() -> None:
    result = _run("mypy", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_fails_on_a_missing_module_of_ours() -> None:
    """Only untyped third-party packages are let through: an import of a moved module fails."""
    missing = _run("mypy", "-c", "import alerts.no_such_module\nimport detectors.gone\n")
    assert missing.returncode == 1, missing.stdout + missing.stderr
    assert 'module named "alerts.no_such_module"' in missing.stdout
    assert 'module named "detectors.gone"' in missing.stdout
    # positive control: an untyped third-party package named in the overrides passes
    untyped = _run("mypy", "-c", "import kafka\nimport aiokafka\n")
    assert untyped.returncode == 0, untyped.stdout + untyped.stderr


def _packages() -> set[str]:
    """The project's own top-level packages (tests included)."""
    return {p.parent.name for p in ROOT.glob("*/__init__.py")}


def _imported(source: str) -> list[str]:
    """Every module a source file imports (``from a import b`` counts as ``a`` and ``a.b``)."""
    names: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
            names += [f"{node.module}.{alias.name}" for alias in node.names]
    return names


def _test_module_imports(source: str) -> list[str]:
    """The test modules (and conftest) that ``source`` imports."""
    return [
        name for name in _imported(source)
        if name.startswith(("tests.test_", "tests.conftest"))
    ]


def _own_importorskips(source: str, own: set[str]) -> list[str]:
    """``pytest.importorskip`` of the project's own modules in ``source``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "importorskip"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and str(node.args[0].value).split(".")[0] in own
        ):
            found.append(str(node.args[0].value))
    return found


def test_no_test_module_imports_another_and_none_skips_a_broken_import_of_ours() -> None:
    """Shared helpers live in tests/kit or testkit; a broken import of ours fails, not skips."""
    own = _packages()
    crossing: dict[str, list[str]] = {}
    skipping: dict[str, list[str]] = {}
    for path in sorted((ROOT / "tests").rglob("*.py")):
        source = path.read_text()
        name = str(path.relative_to(ROOT))
        if found := _test_module_imports(source):
            crossing[name] = found
        if found := _own_importorskips(source, own):
            skipping[name] = found
    assert crossing == {}
    assert skipping == {}
    # positive controls: the checks find what they look for
    assert _test_module_imports("from tests.test_alerts_inbox import web_server\n") == [
        "tests.test_alerts_inbox", "tests.test_alerts_inbox.web_server"
    ]
    assert _test_module_imports("from tests import test_devices_store\n") == [
        "tests.test_devices_store"
    ]
    assert _test_module_imports("from tests.kit.alerts import make_event\n") == []
    assert _own_importorskips('pytest.importorskip("ingest.bridge")\n', own) == ["ingest.bridge"]
    assert _own_importorskips('pytest.importorskip("hypothesis")\n', own) == []


def test_the_product_does_not_import_the_test_kit() -> None:
    """``testkit`` is for tests and benchmarks only: no service package may depend on it."""
    users = [
        str(path.relative_to(ROOT))
        for package in sorted(_packages() - {"tests", "bench", "testkit"})
        for path in sorted((ROOT / package).rglob("*.py"))
        if any(name.split(".")[0] == "testkit" for name in _imported(path.read_text()))
    ]
    assert users == []
    # positive control: the bench does use it, and is found by the same reading
    assert any(
        name.split(".")[0] == "testkit"
        for name in _imported((ROOT / "bench" / "pipeline.py").read_text())
    )
