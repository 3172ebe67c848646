"""CI runs what a developer runs, and every clone tests its own files."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _make_test_prerequisites() -> list[str]:
    makefile = (ROOT / "Makefile").read_text()
    match = re.search(r"^test:([^#\n]*)", makefile, re.MULTILINE)
    assert match, "Makefile has no test target"
    return match.group(1).split()


def _workflow_make_targets(workflow: Path) -> list[str]:
    targets: list[str] = []
    for line in workflow.read_text().splitlines():
        run = re.match(r"\s*(?:-\s*)?run:\s*(.*)", line)
        if run:
            targets += re.findall(r"\bmake\s+([a-z-]+)", run.group(1))
    return targets


def test_the_github_workflow_runs_the_targets_of_make_test() -> None:
    workflow = ROOT / ".github" / "workflows" / "ci.yml"
    prerequisites = _make_test_prerequisites()
    assert "trust-coverage" in prerequisites
    targets = _workflow_make_targets(workflow)
    assert targets in (["test"], prerequisites), targets


def test_rust_tests_read_file_paths_at_run_time() -> None:
    # `env!` bakes the building clone's path into a binary that the shared cargo target dir
    # lets another clone run (and fail on once the first clone is gone).
    baked = [
        str(path.relative_to(ROOT))
        for path in sorted((ROOT / "rust").glob("*/tests/**/*.rs"))
        if 'env!("CARGO_MANIFEST_DIR")' in path.read_text()
    ]
    assert baked == []


def _test_sources() -> list[Path]:
    return sorted(p for p in (ROOT / "tests").rglob("*.py") if "vectors" not in p.parts)


def test_tests_are_sync_and_run_their_coroutines_with_asyncio_run() -> None:
    # One async style: `asyncio.run(...)` inside a plain test; pytest-asyncio is not a
    # dependency, so an `async def test_` would fail in a fresh environment.
    coroutine_tests = [
        f"{path.relative_to(ROOT)}::{node.name}"
        for path in _test_sources()
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.AsyncFunctionDef) and node.name.startswith("test_")
    ]
    assert coroutine_tests == []


def test_tests_import_shared_helpers_without_editing_sys_path() -> None:
    # Shared helpers live in tests/support (on pytest's `pythonpath`), not found by hand.
    edits = [
        str(path.relative_to(ROOT))
        for path in _test_sources()
        if re.search(r"sys\.path\.(insert|append)\(", path.read_text())
    ]
    assert edits == []


def test_test_module_basenames_are_unique() -> None:
    # pytest's default import mode puts each test directory on sys.path and imports the
    # module by its basename: two test files with one name stop the whole collection
    # ("import file mismatch"), which is how CI once failed before running a test.
    seen: dict[str, Path] = {}
    clashes: list[str] = []
    for path in sorted((ROOT / "tests").rglob("test_*.py")):
        first = seen.setdefault(path.name, path)
        if first != path:
            clashes.append(f"{first.relative_to(ROOT)} and {path.relative_to(ROOT)}")
    assert not clashes, clashes
