"""A ``web4 node`` with a bug planted on the path that serves a peer (tests only).

Usage: ``python faulty_node.py node ARGS...`` runs ``web4 node ARGS...`` as the CLI would,
with ``ProtocolRouter.route`` patched: an envelope whose bytes contain ``CRASH`` raises a
``TypeError`` (a bug in our own code, met while serving the peer that sent it), one that
contains ``STORE_FAILS`` raises ``StoreError`` (what the store raises once an fsync
failed, which must stop the node), one that contains ``CONSTRAINT`` writes a row and
then breaks a PRIMARY KEY in one transaction of the node's real store (a
``StoreConstraintError``, rolled back: isolated), and ``CONSTRAINT_BARE`` breaks it
outside any transaction (still stops the node). And ``Validator.validate``: bytes that contain
``CRASH_CHECK`` raise ``TypeError`` in a check, as a monkeypatched check with the wrong
signature once did (the handshake validates its messages itself, before any routing).
Everything else is the real node.
"""

from __future__ import annotations

import sys
from typing import Any

CRASH = b"crash-the-serving-task"
STORE_FAILS = b"the-store-failed-an-fsync"
CRASH_CHECK = b"crash-a-check-in-the-handshake"
CONSTRAINT = b"break-a-constraint-in-a-transaction"
CONSTRAINT_BARE = b"break-a-constraint-outside-a-transaction"
HALF_WRITTEN = "planted-half-written"  # the links_peers row written before the violation
_TAKEN = (  # the trust subsystem's first migration is always recorded
    "INSERT INTO schema_migrations (subsystem, version, description) VALUES ('trust', 1, '')"
)


def plant() -> None:
    from web4.envelope.validate import Validator
    from web4.errors import StoreError
    from web4.router.router import ProtocolRouter
    from web4.store import Store

    original = ProtocolRouter.route
    opened: list[Store] = []
    store_open = Store.open.__func__  # type: ignore[attr-defined]

    def open_(cls: Any, *args: Any, **kw: Any) -> Store:
        store: Store = store_open(cls, *args, **kw)
        opened.append(store)
        return store

    Store.open = classmethod(open_)  # type: ignore[method-assign,assignment]

    def node_store() -> Store:
        return next(s for s in reversed(opened) if s.path.endswith("web4.sqlite3"))

    async def route(self: Any, data: bytes, **kw: Any) -> Any:
        if CRASH in data:
            raise TypeError("planted bug: route() got an unexpected keyword argument")
        if STORE_FAILS in data:
            raise StoreError("planted: fsync failed; the node acknowledges nothing more")
        if CONSTRAINT in data:
            store = node_store()
            with store.transaction():
                store.execute(
                    "INSERT INTO links_peers (peer, connected, last_seen) VALUES (?, 0, 0)",
                    (HALF_WRITTEN,),
                )
                store.execute(_TAKEN)
        if CONSTRAINT_BARE in data:
            node_store().execute(_TAKEN)
        return await original(self, data, **kw)

    ProtocolRouter.route = route  # type: ignore[method-assign]
    check = Validator.validate

    def validate(self: Any, data: Any, **kw: Any) -> Any:
        if isinstance(data, bytes) and CRASH_CHECK in data:
            raise TypeError("planted bug: rest() takes 3 positional arguments but 4 were given")
        return check(self, data, **kw)

    Validator.validate = validate  # type: ignore[method-assign]


def main() -> int:
    plant()
    from web4.cli.main import main as web4

    return web4(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
