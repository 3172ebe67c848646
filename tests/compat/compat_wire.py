"""RTT sessions to a real ``web4 node`` for the compatibility suite, driven from
synchronous tests.

Theory of operation: ``Loop`` runs a private asyncio event loop in a daemon thread (RTT
sessions live on the loop that made them), so tests stay synchronous and can wait on
``NodeProc`` events with plain calls. ``Wire`` is one key's RTT session with the node
(``web4.node.rtt_link.RttLink``, the Python RTT API the node itself uses); it sends what
the test gives it and keeps every envelope the node sends (``received``), with its channel,
in arrival order.
Every wait has a deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, TypeVar

from web4.envelope.crypto import canonicalize
from web4.errors import RTTError
from web4.identity import Identity
from web4.node.rtt_link import RttLink, RttSession

T = TypeVar("T")


class Loop:
    """A private event loop in a daemon thread."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        """``coro``'s result, run on the loop, within ``timeout`` s."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)


class Wire:
    """One identity's RTT session with a node, and what the node sent on it."""

    def __init__(self, loop: Loop, identity: Identity) -> None:
        self.loop, self.identity = loop, identity
        self.received: list[tuple[str, dict[str, Any]]] = []  # (channel, envelope)
        self._lock = threading.Lock()
        self._link: RttLink | None = None
        self._session: RttSession | None = None
        self._reader: asyncio.Task[None] | None = None

    @property
    def session(self) -> RttSession:
        assert self._session is not None, "not connected"
        return self._session

    def connect(self, addr: str) -> Wire:
        """Dial ``addr`` (an RTT session: Noise authenticates both keys) and read
        everything the node sends from then on."""

        async def go() -> None:
            self._link = RttLink(self.identity)
            self._session = await self._link.connect(addr, timeout=10)
            self._reader = asyncio.create_task(self._read())

        self.loop.run(go(), 30)
        return self

    async def _read(self) -> None:
        session = self.session
        with contextlib.suppress(RTTError):
            while not session.closed:
                item = await session.receive(timeout=0.25)
                if item is None:
                    continue
                self._keep(*item)

    def _keep(self, channel: str, data: bytes) -> None:
        with contextlib.suppress(ValueError):
            doc = json.loads(data)
            if isinstance(doc, dict):
                with self._lock:
                    self.received.append((channel, doc))

    def send(self, channel: str, envelope: Mapping[str, Any]) -> None:
        """Send one envelope as its RFC 8785 bytes on ``channel``."""
        self.loop.run(self.session.send(channel, canonicalize(envelope), timeout=10), 15)

    def messages(self, msg_type: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [d for _, d in self.received if msg_type in (None, d.get("type"))]

    def wait(self, pred: Callable[[dict[str, Any]], bool], timeout: float = 10.0) -> dict[str, Any]:
        """The first envelope from the node that ``pred`` accepts, within ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while True:
            found = next((d for d in self.messages() if pred(d)), None)
            if found is not None:
                return found
            if time.monotonic() >= deadline:
                got = [d.get("type") for d in self.messages()][-20:]
                raise AssertionError(f"not received within {timeout} s; got {got}")
            time.sleep(0.05)

    def close(self) -> None:
        async def go() -> None:
            if self._reader is not None:
                self._reader.cancel()
            if self._session is not None:
                with contextlib.suppress(Exception):
                    await self._session.close()
            if self._link is not None:
                with contextlib.suppress(Exception):
                    await self._link.shutdown()

        with contextlib.suppress(Exception):
            self.loop.run(go(), 15)
