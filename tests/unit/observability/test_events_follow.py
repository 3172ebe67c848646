"""``read_events(follow=True)`` waits for a file that does not exist yet (like ``tail -F``)
and reports what it skips; the event file is 0600."""

from __future__ import annotations

import os
import stat
import threading
import time
from pathlib import Path

import pytest

from web4.errors import ObservabilityError
from web4.observability import EventBus, JsonlFileSink, read_events
from web4.observability.reader import MAX_LINE


def test_following_waits_for_a_file_that_does_not_exist_yet(tmp_path: Path) -> None:
    path = tmp_path / "later" / "events.jsonl"
    got: list[str] = []
    done = threading.Event()

    def follow() -> None:
        for e in read_events(
            path, follow=True, poll_interval=0.01, deadline=time.monotonic() + 20,
            stop=lambda: bool(got),
        ):  # fmt: skip
            got.append(e.kind)
        done.set()

    t = threading.Thread(target=follow, daemon=True)
    t.start()
    time.sleep(0.3)  # the reader is polling for the missing file
    assert not done.is_set()
    path.parent.mkdir()
    bus = EventBus("n")
    bus.add_sink(JsonlFileSink(path))
    bus.emit("error", error="E")
    bus.close()
    assert done.wait(20)
    assert got == ["error"]


def test_following_a_missing_file_ends_at_its_deadline_and_reading_one_is_an_error(
    tmp_path: Path,
) -> None:
    path = tmp_path / "none.jsonl"
    started = time.monotonic()
    assert list(read_events(path, follow=True, poll_interval=0.01, idle_timeout=0.1)) == []
    assert time.monotonic() - started < 5
    with pytest.raises(ObservabilityError, match="cannot read event file"):
        list(read_events(path))


def test_an_overlong_line_is_reported_as_skipped(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    path.write_bytes(b"x" * (MAX_LINE + 10))
    bad: list[str] = []
    list(
        read_events(
            path, follow=True, poll_interval=0.01, idle_timeout=0.05,
            on_invalid=lambda _line, e: bad.append(str(e)),
        )
    )  # fmt: skip
    assert bad == [f"a line longer than {MAX_LINE} bytes"]


def test_the_event_file_is_0600_even_when_it_existed_readable_by_others(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        fresh = tmp_path / "fresh.jsonl"
        JsonlFileSink(fresh).close()
        assert stat.S_IMODE(fresh.stat().st_mode) == 0o600
        loose = tmp_path / "loose.jsonl"
        loose.write_bytes(b"")
        loose.chmod(0o644)
        sink = JsonlFileSink(loose, max_bytes=256, backups=1)
        assert stat.S_IMODE(loose.stat().st_mode) == 0o600
        bus = EventBus("n")
        bus.add_sink(sink)
        for _ in range(10):  # rotates: the new file is 0600 too
            bus.emit("error", error="E" * 50)
        bus.close()
        assert sink.rotations > 0
        assert stat.S_IMODE(loose.stat().st_mode) == 0o600
    finally:
        os.umask(old)
