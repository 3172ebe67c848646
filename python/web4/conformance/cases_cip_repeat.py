"""The conformance cases for a handshake step repeated after the handshake ended.

Theory of operation (``docs/CIP_SPEC.md`` §6, Timers and retries): after the end the
responder answers one step again, a repeat of the INTENT that ended the handshake (same
payload, new ``msg_id``: the initiator lost the decision), with the same decision, at most
``max_retries`` times, and only until the peer sends another INTENT. Each case plays the
full handshake as initiator with a fresh key, then sends INTENTs and counts the decisions
that come back (a ``STATE_UPDATE`` on ``control`` whose payload ``intent`` is ``accept:``
or ``defer:`` and an id): one must come back for the first repeat; of six repeats some
must go unanswered (a target that answers every repeat does unbounded work for a peer);
after another INTENT, the first one's payload again is the peer changing its intent back
and gets no decision.
"""

from __future__ import annotations

from web4.cip.messages import Intent
from web4.conformance.cases_cip import _handshake, _step
from web4.conformance.runner import Case, Mismatch, register
from web4.conformance.wire import Got, Peer, Target, wire

__all__: list[str] = []

TOPIC = "conformance"  # the topic of the runner's handshake INTENT (wire.handshake_for)
BURST = 6  # repeats sent at once; the spec's default max_retries is 2
SPEC = "CIP_SPEC §6 Timers and retries"


def _is_decision(g: Got) -> bool:
    intent = g.payload.get("intent")
    return (
        g.channel == "control"
        and g.type == "STATE_UPDATE"
        and isinstance(intent, str)
        and intent.split(":", 1)[0] in ("accept", "defer")
        and ":" in intent
    )


def _intent(p: Peer, topic: str = TOPIC) -> bytes:
    """An INTENT like the handshake's (``topic`` the same: a repeat), under a new msg_id;
    after the handshake both sides are ``probing``."""
    env = p.build(Intent(goal="ask", topic=topic), sender_view="probing", receiver_view="probing")
    return wire(env)


async def _accepted(p: Peer) -> Got:
    """The full handshake; the target's decision (which our handshake took)."""
    await _handshake(p)
    decisions = [g for g in p.received if _is_decision(g)]
    if not decisions:
        raise Mismatch("the handshake ended without a decision on control")
    return decisions[-1]


async def _quiet(p: Peer, wait: float) -> None:
    """Until nothing arrived for ``wait`` seconds (the case deadline bounds a target that
    never stops talking)."""
    while await p.silence(wait, len(p.received), channel=None) is not None:
        pass


async def _decisions(p: Peer, since: int, wait: float) -> list[Got]:
    await _quiet(p, wait)  # let every answer arrive
    return [g for g in p.received[since:] if _is_decision(g)]


async def _repeat_intent(target: Target) -> None:
    async with Peer(target) as p:
        decision = await _accepted(p)
        n = len(p.received)
        await p.send(_intent(p))
        got = await p.wait(_is_decision, _step(target), n)
        if got is None:
            raise Mismatch("no decision answered the repeated INTENT (same payload, new msg_id)")
        if got.payload != decision.payload:
            raise Mismatch(
                f"the repeat got decision {got.payload.get('intent')!r}, not the first one "
                f"({decision.payload.get('intent')!r}) again"
            )


async def _repeat_bounded(target: Target) -> None:
    async with Peer(target) as p:
        await _accepted(p)
        n = len(p.received)
        for _ in range(BURST):
            await p.send(_intent(p))
        if await p.wait(_is_decision, _step(target), n) is None:
            raise Mismatch("no decision answered the first repeat, so no bound can be seen")
        answers = await _decisions(p, n, target.quiet)
        if len(answers) >= BURST:
            raise Mismatch(f"all {BURST} repeats were answered (no bound)")
        if p.closed:
            raise Mismatch("the target ended the session (a repeat is no fault)")


async def _changed_back(target: Target) -> None:
    async with Peer(target) as p:
        await _accepted(p)
        n = len(p.received)
        await p.send(_intent(p, f"{TOPIC}, changed"))
        await _quiet(p, target.quiet)
        await p.send(_intent(p))
        answers = await _decisions(p, n, target.quiet)
        if answers:
            raise Mismatch(
                f"a decision came back: {answers[0].describe()} (after another INTENT the "
                "first one's payload is a new intent, not a repeat)"
            )
        if p.closed:
            raise Mismatch("the target ended the session")


register(Case(
    "cip.after.repeat_intent", "after the handshake (accepted), our INTENT again: same "
    "payload, new msg_id (we lost the decision)", "the same decision again: a "
    "STATE_UPDATE on control whose payload equals the first decision's (accept:<our first "
    "INTENT's msg_id>)", SPEC, "positive", _repeat_intent,
))  # fmt: skip
register(Case(
    "cip.after.repeat_intent_bounded", f"after the handshake, our INTENT again {BURST} "
    "times at once (same payload, new msg_ids)", "the decision again, at most "
    f"max_retries times (default 2; the case allows up to {BURST - 1}): not every repeat "
    "is answered; the session stays open", SPEC, "negative", _repeat_bounded,
))  # fmt: skip
register(Case(
    "cip.after.intent_changed_back", "after the handshake, an INTENT with another topic, "
    "then one equal to the handshake's INTENT", "no decision for either (another INTENT "
    "closes the window: the second is the peer changing its intent back, for the agent)",
    SPEC, "negative", _changed_back,
))  # fmt: skip
