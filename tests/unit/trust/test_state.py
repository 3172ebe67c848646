"""The CIP TrustFSM table, evaluated purely: every row, the guards, cooldowns and decay."""

from __future__ import annotations

from dataclasses import replace

import pytest

from web4.trust import TRUST_TABLE, PeerRecord, TrustEvent, TrustPolicy, TrustState, evaluate

U, P, T, B = TrustState.UNTRUSTED, TrustState.PROBING, TrustState.TRUSTED, TrustState.BLACKLISTED
Ev = TrustEvent
POL = TrustPolicy()
NOW = 1_800_000_000.0
PEER = "ab" * 32


def rec(state: TrustState, **kw: object) -> PeerRecord:
    return PeerRecord(PEER, state, **kw)  # type: ignore[arg-type]


# The brief's six rows (with the event names that carry them).
@pytest.mark.parametrize(
    ("src", "event", "dst"),
    [
        (U, Ev.HANDSHAKE_VERIFIED, P),
        (P, Ev.KNOWLEDGE_VERIFIED, P),  # knowledge earns no trust
        (P, Ev.CONFLICT, U),
        (P, Ev.SEVERE_CONFLICT, U),
        (T, Ev.SEVERE_CONFLICT, B),
        (T, Ev.MALICIOUS_EVIDENCE, B),
        (B, Ev.MANUAL_OVERRIDE, P),
        # the handshake's acceptance rules
        (P, Ev.BAD_SIGNATURE, U),
        (U, Ev.FINGERPRINT_MISMATCH, B),
        (P, Ev.FINGERPRINT_MISMATCH, B),
        (T, Ev.FINGERPRINT_MISMATCH, B),
        (T, Ev.BAD_SIGNATURE, B),
        (P, Ev.MALICIOUS_EVIDENCE, U),
        # the operator's trust anchors (extension: bootstraps trust)
        (P, Ev.OPERATOR_VOUCH, T),
        (U, Ev.OPERATOR_VOUCH, U),
        (T, Ev.OPERATOR_VOUCH, T),
        (B, Ev.OPERATOR_VOUCH, B),
    ],
)
def test_single_event_rows(src: TrustState, event: TrustEvent, dst: TrustState) -> None:
    out = evaluate(rec(src), event, NOW, POL)
    assert (out.src, out.dst, out.changed) == (src, dst, src != dst)
    assert out.record.state == dst
    assert out.note


@pytest.mark.parametrize("event", list(TrustEvent))
def test_blacklisted_only_leaves_by_manual_override(event: TrustEvent) -> None:
    out = evaluate(rec(B), event, NOW, POL)
    assert out.dst == (P if event is Ev.MANUAL_OVERRIDE else B)


@pytest.mark.parametrize(
    "event", [e for e in TrustEvent if e not in (Ev.FINGERPRINT_MISMATCH, Ev.MANUAL_BLACKLIST)]
)
def test_untrusted_never_escalates_except_by_handshake_fingerprint_or_operator(
    event: TrustEvent,
) -> None:
    out = evaluate(rec(U), event, NOW, POL)
    assert out.dst == (P if event is Ev.HANDSHAKE_VERIFIED else U)


def test_demotion_starts_a_cooldown_that_blocks_the_handshake() -> None:
    demoted = evaluate(rec(P), Ev.CONFLICT, NOW, POL).record
    assert demoted.cooldown_until == NOW + 300
    blocked = evaluate(demoted, Ev.HANDSHAKE_VERIFIED, NOW + 299.999, POL)
    assert blocked.dst == U
    assert "cooldown" in blocked.note
    assert evaluate(demoted, Ev.HANDSHAKE_VERIFIED, NOW + 300, POL).dst == P


def test_malicious_evidence_gives_the_long_cooldown() -> None:
    demoted = evaluate(rec(P), Ev.MALICIOUS_EVIDENCE, NOW, POL).record
    assert demoted.cooldown_until == NOW + 3600
    assert evaluate(demoted, Ev.HANDSHAKE_VERIFIED, NOW + 3599, POL).dst == U
    assert evaluate(demoted, Ev.HANDSHAKE_VERIFIED, NOW + 3600, POL).dst == P


def test_cooldown_is_never_shortened() -> None:
    long = evaluate(rec(U), Ev.MALICIOUS_EVIDENCE, NOW, POL).record
    again = evaluate(long, Ev.BAD_SIGNATURE, NOW + 10, POL).record
    assert again.cooldown_until == NOW + 3600


def test_bad_signature_on_untrusted_restarts_the_cooldown() -> None:
    out = evaluate(rec(U, cooldown_until=NOW + 5), Ev.BAD_SIGNATURE, NOW + 100, POL)
    assert out.record.cooldown_until == NOW + 400


def test_three_unverifiable_claims_within_the_window_demote() -> None:
    r = rec(P)
    for i in range(2):
        out = evaluate(r, Ev.UNVERIFIABLE_CLAIM, NOW + i * 100, POL)
        assert out.dst == P
        r = out.record
    assert len(r.unverifiable) == 2
    third = evaluate(r, Ev.UNVERIFIABLE_CLAIM, NOW + 599, POL)
    assert third.dst == U
    assert third.record.unverifiable == ()
    assert third.record.cooldown_until == NOW + 599 + 300


def test_unverifiable_claims_decay_out_of_the_window() -> None:
    r = rec(P)
    for t in (0, 100):
        r = evaluate(r, Ev.UNVERIFIABLE_CLAIM, NOW + t, POL).record
    # at +600 the first one (at +0) is exactly 600 s old: outside the window
    out = evaluate(r, Ev.UNVERIFIABLE_CLAIM, NOW + 600, POL)
    assert out.dst == P
    assert out.record.unverifiable == (NOW + 100, NOW + 600)


@pytest.mark.parametrize("event", [Ev.ANOMALY, Ev.CONFLICT, Ev.UNVERIFIABLE_CLAIM])
def test_temporary_anomaly_is_three_in_five_minutes(event: TrustEvent) -> None:
    r = rec(T)
    r = evaluate(r, Ev.ANOMALY, NOW, POL).record
    r = evaluate(r, event, NOW + 10, POL).record
    assert r.state == T
    assert len(r.anomalies) == 2
    out = evaluate(r, event, NOW + 299, POL)
    assert (out.dst, out.record.anomalies) == (P, ())
    assert out.record.cooldown_until == 0.0  # re-verify, no cooldown


def test_anomalies_decay() -> None:
    r = rec(T)
    r = evaluate(r, Ev.ANOMALY, NOW, POL).record
    r = evaluate(r, Ev.ANOMALY, NOW + 1, POL).record
    out = evaluate(r, Ev.ANOMALY, NOW + 301, POL)
    assert out.dst == T
    assert out.record.anomalies == (NOW + 301,)


def test_promotion_and_override_clear_counters() -> None:
    r = rec(P, unverifiable=(NOW,))
    assert evaluate(r, Ev.OPERATOR_VOUCH, NOW, POL).record.unverifiable == ()
    b = rec(B, anomalies=(NOW,), cooldown_until=NOW + 50)
    out = evaluate(b, Ev.MANUAL_OVERRIDE, NOW, POL).record
    assert (out.state, out.anomalies) == (P, ())


def test_policy_is_a_parameter() -> None:
    strict = TrustPolicy(unverifiable_limit=1, demotion_cooldown_s=0)
    out = evaluate(rec(P), Ev.UNVERIFIABLE_CLAIM, NOW, strict)
    assert out.dst == U
    assert evaluate(out.record, Ev.HANDSHAKE_VERIFIED, NOW, strict).dst == P


@pytest.mark.parametrize(
    "kwargs",
    [
        {"demotion_cooldown_s": -1},
        {"malicious_cooldown_s": float("nan")},
        {"unverifiable_window_s": 0},
        {"anomaly_window_s": -5},
        {"unverifiable_limit": 0},
        {"anomaly_limit": 0},
    ],
)
def test_bad_policy_is_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="TrustPolicy"):
        TrustPolicy(**kwargs)  # type: ignore[arg-type]


def test_unknown_event_is_a_value_error() -> None:
    with pytest.raises(ValueError):  # noqa: PT011
        evaluate(rec(U), "hug", NOW, POL)  # type: ignore[arg-type]


def test_table_covers_every_state_and_is_one_table() -> None:
    assert set(TRUST_TABLE.states) == set(TrustState)
    assert set(TRUST_TABLE.events) == set(TrustEvent)
    sources = {r.src for r in TRUST_TABLE.rules}
    assert sources == set(TrustState)
    # the only way out of blacklisted is the manual override
    outs = [r for r in TRUST_TABLE.rules if r.src == B and r.dst != B]
    assert [(r.event, r.dst) for r in outs] == [(Ev.MANUAL_OVERRIDE, P)]


def test_only_an_operator_vouch_makes_a_peer_trusted() -> None:
    """No event a peer's own behaviour can cause promotes it to trusted."""
    own = [e for e in Ev if e not in (Ev.OPERATOR_VOUCH, Ev.MANUAL_OVERRIDE)]
    for state in (U, P):
        for ev in own:
            assert evaluate(rec(state), ev, NOW, POL).dst is not T, (state, ev)


def test_trusted_since_is_set_on_promotion_kept_while_trusted_and_cleared_on_leaving() -> None:
    vouched = evaluate(rec(P), Ev.OPERATOR_VOUCH, NOW, POL).record
    assert vouched.trusted_since == NOW
    later = evaluate(vouched, Ev.ANOMALY, NOW + 5, POL).record
    assert later.state is T
    assert later.trusted_since == NOW
    demoted = evaluate(
        replace(later, anomalies=(NOW + 6, NOW + 7)), Ev.ANOMALY, NOW + 8, POL
    ).record
    assert demoted.state is P
    assert demoted.trusted_since is None
