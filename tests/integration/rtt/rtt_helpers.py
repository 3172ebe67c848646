"""Helpers for the RTT integration tests: peer processes and a cuttable TCP relay."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
from pathlib import Path
from typing import IO

PEER = Path(__file__).with_name("_peer.py")


class Peer:
    """A peer process; ``line()`` reads its next JSON line (bounded)."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(PEER), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def line(self, timeout: float = 30.0) -> dict[str, object]:
        out: IO[str] | None = self.proc.stdout
        assert out is not None
        import selectors

        sel = selectors.DefaultSelector()
        sel.register(out, selectors.EVENT_READ)
        if not sel.select(timeout):
            raise TimeoutError(f"peer said nothing for {timeout} s")
        raw = out.readline()
        if not raw:
            err = self.proc.stderr.read() if self.proc.stderr else ""
            raise RuntimeError(f"peer exited: {err[-2000:]}")
        return dict(json.loads(raw))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)


class Relay:
    """An asyncio TCP relay to ``upstream``; ``cut()`` aborts every live connection."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream = upstream_port
        self.live: list[asyncio.StreamWriter] = []
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _handle(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        try:
            ur, uw = await asyncio.open_connection("127.0.0.1", self.upstream)
        except OSError:
            w.close()
            return
        self.live += [w, uw]
        await asyncio.gather(self._pipe(r, uw), self._pipe(ur, w))

    @staticmethod
    async def _pipe(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, ConnectionError):
            while data := await r.read(65536):
                w.write(data)
                await w.drain()
        w.close()

    def cut(self) -> None:
        for w in self.live:
            w.transport.abort()
        self.live.clear()

    async def close(self) -> None:
        self.cut()
        if self.server:
            self.server.close()


def port_of(addr: str) -> int:
    return int(addr.split("/")[4])
