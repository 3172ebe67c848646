"""TrustFSM against an independent reference model of the spec's table (hypothesis).

The model below is written from docs/CIP_SPEC.md ("Trust FSM"), not from the code: plain
if/else per state. The state machine drives a real TrustBook over a SQLite file with a
fake clock, restarts it (close and reopen the file) at random, and checks after every step
that every peer's state matches the model and that every event left exactly one audit
entry.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from web4.clock import FakeClock
from web4.store import Store
from web4.trust import TrustBook, TrustEvent, TrustState

U, P, T, B = TrustState.UNTRUSTED, TrustState.PROBING, TrustState.TRUSTED, TrustState.BLACKLISTED
Ev = TrustEvent
PEERS = [hashlib.sha256(f"model-{i}".encode()).hexdigest() for i in range(3)]
SHORT, LONG = 300.0, 3600.0
UNV_LIMIT, UNV_WINDOW = 3, 600.0
ANOM_LIMIT, ANOM_WINDOW = 3, 300.0


@dataclass
class ModelPeer:
    state: TrustState = U
    cooldown: float = 0.0
    unverifiable: list[float] = field(default_factory=list)
    anomalies: list[float] = field(default_factory=list)
    since: float | None = None  # trusted_since

    def demote(self, now: float, seconds: float) -> None:
        self.state = U
        self.cooldown = max(self.cooldown, now + seconds)
        self.unverifiable, self.anomalies = [], []

    def promote(self, to: TrustState) -> None:
        self.state = to
        self.unverifiable, self.anomalies = [], []


def model_step(m: ModelPeer, ev: TrustEvent, now: float) -> None:
    unv = [t for t in m.unverifiable if t > now - UNV_WINDOW]
    anom = [t for t in m.anomalies if t > now - ANOM_WINDOW]
    if m.state == B:
        if ev == Ev.MANUAL_OVERRIDE:
            m.promote(P)
        return
    if ev == Ev.FINGERPRINT_MISMATCH:
        m.state = B
        return
    if ev == Ev.MANUAL_BLACKLIST:  # a human operator: from any state, counters cleared
        m.promote(B)
        return
    if m.state == U:
        if ev == Ev.HANDSHAKE_VERIFIED and now >= m.cooldown:
            m.promote(P)
        elif ev == Ev.BAD_SIGNATURE:
            m.demote(now, SHORT)
        elif ev == Ev.MALICIOUS_EVIDENCE:
            m.demote(now, LONG)
    elif m.state == P:
        if ev == Ev.OPERATOR_VOUCH:  # knowledge earns no trust: only the operator promotes
            m.promote(T)
            m.since = now
        elif ev in (Ev.CONFLICT, Ev.SEVERE_CONFLICT, Ev.BAD_SIGNATURE):
            m.demote(now, SHORT)
        elif ev == Ev.MALICIOUS_EVIDENCE:
            m.demote(now, LONG)
        elif ev == Ev.UNVERIFIABLE_CLAIM:
            if len(unv) + 1 >= UNV_LIMIT:
                m.demote(now, SHORT)
            else:
                m.unverifiable = [*unv, now]
    elif m.state == T:
        if ev in (Ev.SEVERE_CONFLICT, Ev.MALICIOUS_EVIDENCE, Ev.BAD_SIGNATURE):
            m.state = B
        elif ev in (Ev.ANOMALY, Ev.CONFLICT, Ev.UNVERIFIABLE_CLAIM):
            if len(anom) + 1 >= ANOM_LIMIT:
                m.promote(P)
            else:
                m.anomalies = [*anom, now]


class TrustMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="trust-model-"))
        self.clock = FakeClock(1_800_000_000.0)
        self.store = Store.open(self.dir / "db.sqlite3", synchronous="OFF")
        self.book = TrustBook(self.store, self.clock)
        self.model = {p: ModelPeer() for p in PEERS}
        self.events = 0
        self.restarts = 0

    def teardown(self) -> None:
        self.store.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    @rule(
        dt=st.sampled_from([0.0, 0.5, 1.0, 10.0, 60.0, 150.0, 299.0, 300.0, 301.0, 600.0, 3600.0])
    )
    def advance(self, dt: float) -> None:
        self.clock.advance(dt)

    @rule(
        peer=st.sampled_from(PEERS),
        event=st.sampled_from(
            [e for e in TrustEvent if e not in (Ev.MANUAL_OVERRIDE, Ev.MANUAL_BLACKLIST)]
        ),
    )
    def event(self, peer: str, event: TrustEvent) -> None:
        self._send(peer, event)

    # Extra rules that bias the walk towards probing and trusted, where most rows live
    # (a uniform walk blacklists or cools down most peers before they get there).
    @rule(peer=st.sampled_from(PEERS))
    def handshake(self, peer: str) -> None:
        self._send(peer, Ev.HANDSHAKE_VERIFIED)

    @rule(peer=st.sampled_from(PEERS))
    def verified(self, peer: str) -> None:
        self._send(peer, Ev.KNOWLEDGE_VERIFIED)

    @rule(
        peer=st.sampled_from(PEERS),
        event=st.sampled_from([Ev.ANOMALY, Ev.CONFLICT, Ev.UNVERIFIABLE_CLAIM]),
    )
    def repeated(self, peer: str, event: TrustEvent) -> None:
        self._send(peer, event)

    def _send(self, peer: str, event: TrustEvent) -> None:
        before = self.model[peer].state
        model_step(self.model[peer], event, self.clock.now())
        out = self.book.record(peer, event, f"model event {event}", [f"m{self.events}"])
        self.events += 1
        assert out.evaluation.src == before
        if self.model[peer].state is not T:
            self.model[peer].since = None
        assert out.state == self.model[peer].state
        assert self.book.trusted_since(peer) == self.model[peer].since
        assert out.changed == (before != self.model[peer].state)

    @rule(peer=st.sampled_from(PEERS))
    def override(self, peer: str) -> None:
        model_step(self.model[peer], Ev.MANUAL_OVERRIDE, self.clock.now())
        out = self.book.override(peer, operator="op", reason="model override")
        self.events += 1
        assert out.state == self.model[peer].state
        assert out.audit.operator == "op"

    @rule(peer=st.sampled_from(PEERS))
    def blacklist(self, peer: str) -> None:
        before = self.model[peer].state
        model_step(self.model[peer], Ev.MANUAL_BLACKLIST, self.clock.now())
        self.model[peer].since = None
        out = self.book.blacklist(peer, operator="op", reason="model blacklist")
        self.events += 1
        assert out.state == self.model[peer].state
        assert out.changed == (before != self.model[peer].state)
        assert out.audit.operator == "op"

    @precondition(lambda self: self.restarts < 3)
    @rule()
    def restart(self) -> None:
        self.store.close()
        self.store = Store.open(self.dir / "db.sqlite3", synchronous="OFF")
        self.book = TrustBook(self.store, self.clock)
        self.restarts += 1

    @invariant()
    def states_match_the_model(self) -> None:
        for p in PEERS:
            assert self.book.state_of(p) == self.model[p].state, p

    @invariant()
    def one_audit_entry_per_event(self) -> None:
        assert len(self.book.audit(limit=100_000)) == self.events

    @invariant()
    def audit_chain_verifies(self) -> None:
        check = self.book.verify_chain()
        assert check.ok
        assert check.rows == self.events


TrustMachine.TestCase.settings = settings(max_examples=200, stateful_step_count=50, deadline=None)
test_trust_fsm_matches_reference_model = TrustMachine.TestCase
