"""CI runs what a developer runs, and every clone tests its own files."""

from __future__ import annotations

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
