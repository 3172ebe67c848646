"""``web4 id --data-dir D | head -1``: the reader goes away after one line. The command
ends without a traceback (quietly, non-zero), as Unix filters do."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from web4.identity import Identity

pytestmark = pytest.mark.timeout(20)


def test_a_closed_stdout_is_no_traceback(tmp_path: Path) -> None:
    Identity.create_in_data_dir(tmp_path / "a", "alice")
    # A pipe whose reader is gone before the command writes: every write is EPIPE.
    code = (
        "import os, sys\n"
        "r, w = os.pipe(); os.close(r); os.dup2(w, 1)\n"
        "sys.stdout = open(1, 'w', buffering=1)\n"
        "from web4.cli.main import main\n"
        f"sys.exit(main(['id', '--data-dir', {str(tmp_path / 'a')!r}]))\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=15, check=False
    )
    assert "Traceback" not in r.stderr, r.stderr
    assert r.returncode != 0
