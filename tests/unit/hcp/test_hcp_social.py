"""Social trust FSM: table, events from messages, persistence and audit."""

from __future__ import annotations

import pytest

from web4.hcp.messages import HcpContext, HcpFeedback, HcpHello, HumanIdentity, HumanState
from web4.hcp.social import (
    SOCIAL_TABLE,
    SocialCtx,
    SocialEvent,
    SocialState,
    SocialTrust,
    events_for,
)
from web4.store import Store

E, S = SocialEvent, SocialState


def hs(consent: str = "granted") -> HumanState:
    return HumanState("focused", "calm", 70, 20, "", consent)  # type: ignore[arg-type]


def fb(satisfaction: int, corrections: tuple[str, ...] = ()) -> HcpFeedback:
    return HcpFeedback(feedback="", corrections=list(corrections), satisfaction=satisfaction)


@pytest.mark.parametrize(
    ("state", "events", "final"),
    [
        (S.UNTRUSTED, [E.HELLO_VERIFIED], S.PROBING),
        (S.UNTRUSTED, [E.POSITIVE_FEEDBACK], S.UNTRUSTED),
        (S.PROBING, [E.POSITIVE_FEEDBACK], S.PROBING),
        (S.PROBING, [E.POSITIVE_FEEDBACK, E.POSITIVE_FEEDBACK], S.TRUSTED),
        (S.PROBING, [E.POSITIVE_FEEDBACK, E.MISUNDERSTANDING, E.POSITIVE_FEEDBACK], S.PROBING),
        (S.TRUSTED, [E.MISUNDERSTANDING], S.TRUSTED),
        (S.TRUSTED, [E.MISUNDERSTANDING, E.MISUNDERSTANDING], S.PROBING),
        (S.TRUSTED, [E.MISUNDERSTANDING, E.POSITIVE_FEEDBACK, E.MISUNDERSTANDING], S.TRUSTED),
        (S.UNTRUSTED, [E.CONSENT_REVOKED], S.RESTRICTED),
        (S.PROBING, [E.CONSENT_REVOKED], S.RESTRICTED),
        (S.TRUSTED, [E.CONSENT_REVOKED], S.RESTRICTED),
        (S.RESTRICTED, [E.POSITIVE_FEEDBACK, E.HELLO_VERIFIED], S.RESTRICTED),
        (S.RESTRICTED, [E.CONSENT_RESTORED], S.PROBING),
    ],
)
def test_table(state, events, final) -> None:
    ctx = SocialCtx()
    for ev in events:
        step = SOCIAL_TABLE.step(state, ev, ctx)
        state, ctx = step.dst, step.ctx
    assert state == final


def test_events_from_messages() -> None:
    hello = HcpHello(HumanIdentity("Ada", "eng"), [], [])
    assert events_for(None, hs(), hello, verified=True) == [E.HELLO_VERIFIED]
    assert events_for(None, hs(), hello, verified=False) == []
    assert events_for(hs(), hs(), fb(90), verified=True) == [E.POSITIVE_FEEDBACK]
    assert events_for(hs(), hs(), fb(90, ("no, I meant B",)), verified=True) == [E.MISUNDERSTANDING]
    assert events_for(hs(), hs(), fb(39), verified=True) == [E.MISUNDERSTANDING]
    assert events_for(hs(), hs(), fb(40), verified=True) == []
    assert events_for(hs(), hs(), fb(69), verified=True) == []
    ctx = HcpContext("", [], [])
    assert events_for(hs(), hs("revoked"), ctx, verified=True) == [E.CONSENT_REVOKED]
    assert events_for(hs("revoked"), hs("revoked"), ctx, verified=True) == []
    assert events_for(hs("revoked"), hs("limited"), ctx, verified=True) == [E.CONSENT_RESTORED]


def test_persisted_and_audited(tmp_path) -> None:
    path = tmp_path / "w.sqlite3"
    with Store.open(path) as store:
        social = SocialTrust(store)
        assert social.state_of("h1") == S.UNTRUSTED
        social.apply("h1", E.HELLO_VERIFIED, now=1.0, cause="msg-1")
        social.apply("h1", E.POSITIVE_FEEDBACK, now=2.0, cause="msg-2")
    with Store.open(path) as store:
        social = SocialTrust(store)
        assert social.state_of("h1") == S.PROBING
        step = social.apply("h1", E.POSITIVE_FEEDBACK, now=3.0, cause="msg-3")
        assert step.changed
        assert social.state_of("h1") == S.TRUSTED
        social.apply("h1", E.HELLO_VERIFIED, now=4.0, cause="msg-4")  # changes nothing
        log = social.audit("h1")
    assert [(a.src, a.event, a.dst, a.cause) for a in log] == [
        ("untrusted", "hello_verified", "probing", "msg-1"),
        ("probing", "positive_feedback", "probing", "msg-2"),
        ("probing", "positive_feedback", "trusted", "msg-3"),
        ("trusted", "hello_verified", "trusted", "msg-4"),
    ]
    assert log[2].note == "mutual validation"
    assert log[3].note == SOCIAL_TABLE.no_rule_note


def test_table_renders_for_the_spec() -> None:
    md = SOCIAL_TABLE.to_markdown()
    assert "| restricted | consent_restored |  | probing |" in md
