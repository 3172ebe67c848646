"""The knowledge tests' World: a store, a TrustBook and an exchange, with helpers that
put peers into a given trust state and build well-formed claims. A module of its own
(imported as ``support.knowledge_world``), not the knowledge tests' conftest: two
directories' ``conftest`` modules cannot both be imported by that name in one pytest run."""

from __future__ import annotations

import hashlib
import itertools
import uuid

from web4.clock import FakeClock
from web4.knowledge import DmpTrace, Fact, KnowledgeExchange, LocalState
from web4.store import Store
from web4.trust import TrustBook, TrustEvent, TrustState

OK = LocalState("engaged", 10)


class World:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.clock = FakeClock(1_800_000_000.0)
        self.trust = TrustBook(store, self.clock)
        self.kx = KnowledgeExchange(store, self.trust, self.clock)
        self._ids = itertools.count()

    def msg_id(self) -> str:
        return str(uuid.UUID(int=next(self._ids) + 1, version=4))

    def peer(self, state: TrustState, name: str | None = None) -> str:
        """A fresh peer id, moved into ``state`` through real trust events."""
        pid = hashlib.sha256((name or f"peer-{next(self._ids)}").encode()).hexdigest()
        if state is TrustState.BLACKLISTED:
            self.trust.record(pid, TrustEvent.FINGERPRINT_MISMATCH, "setup")
        if state in (TrustState.PROBING, TrustState.TRUSTED):
            self.trust.record(pid, TrustEvent.HANDSHAKE_VERIFIED, "setup")
        if state is TrustState.TRUSTED:
            self.trust.record(pid, TrustEvent.OPERATOR_VOUCH, "setup")
        assert self.trust.state_of(pid) is state
        return pid

    def peer_probing(self) -> str:
        return self.peer(TrustState.PROBING)

    def peer_trusted(self) -> str:
        return self.peer(TrustState.TRUSTED)

    def propose(
        self,
        sender: str,
        statement: str = "The sky is blue",
        domain: str = "weather",
        local: LocalState = OK,
        **kw: object,
    ):
        fact = Fact(statement, domain, 0.9, ["https://example.org/sky"], "daytime")
        trace = DmpTrace(
            str(uuid.UUID(int=next(self._ids) + 1000, version=4)),
            ["looked up", "looked out of the window"],
            ["the sky is green"],
            ["https://example.org/sky"],
        )
        args: dict[str, object] = {"fact": fact, "trace": trace}
        args.update(kw)
        return self.kx.propose(msg_id=self.msg_id(), sender=sender, local=local, **args)  # type: ignore[arg-type]

    def confirm(self, claim_id: str, voter: str, local: LocalState = OK):
        return self.kx.confirm(
            msg_id=self.msg_id(), sender=voter, fact_ref=claim_id, confidence=0.8, local=local
        )
