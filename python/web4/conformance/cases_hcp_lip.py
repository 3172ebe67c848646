"""The runner's HCP and LIP cases (profile ``web4``): what a human and an agent peer see.

Theory of operation: HCP needs no CIP handshake (HCP_SPEC §9): a key opens an RTT
session and sends ``HCP_HELLO`` on ``control``. What makes HCP observable from outside
is HCP_SPEC §9.1: a key the operator did not authorise gets exactly one answer per
message, the signed ``not_authorized`` refusal, and nothing else. So the negative cases
play a fresh (unauthorised) key: a bad ``HCP_HELLO`` must get no answer at all, and the
valid one that follows in the same session must be answered, by that refusal (the target
dropped the bad one alone and keeps serving). The positive case needs a key the operator authorised
(``Target.human``, the runner's ``--human-key``): its ``HCP_HELLO`` is answered by the
agent, not refused.

LIP travels between agents after a CIP handshake (LIP_SPEC §1, L15) and is not answered,
so a LIP case observes the fault meter of CIP_SPEC §9 instead: the runner finishes the
handshake and sends ``FLOOD`` ``LIP_EVIDENCE`` messages on ``knowledge``. Refused
messages are faults, and the 20th fault in a window ends the session; handled ones are
not. Claims with evidence must leave the session open; the original's claims without
evidence (LIP_SPEC §3, L7) must end it.
"""

from __future__ import annotations

import copy
import hashlib
import time
from collections.abc import Callable
from typing import Any

from web4.cip.messages import TrustViews
from web4.clock import SystemClock, SystemRng, rfc3339
from web4.conformance.cases_cip import _handshake
from web4.conformance.runner import Case, Kind, Mismatch, register
from web4.conformance.wire import Env, Got, Peer, Target, wire
from web4.envelope.replay import ReplayCache
from web4.envelope.validate import Validator
from web4.errors import RemoteError, RTTError
from web4.hcp.builder import build_hcp, refusal_of
from web4.hcp.messages import HCP_SPEC, HcpContext, HcpHello, HumanIdentity, HumanState
from web4.lip.builder import build_lip
from web4.lip.extract import claim_id
from web4.lip.messages import Claim, Evidence, LipEvidence, Source

__all__ = ["FLOOD", "HUMAN_KEY_HINT"]

_CLOCK = SystemClock()
SKEW = 300.0  # well outside the ±120 s of CIP section 5
FLOOD = 25  # LIP messages per case: past the 20 faults that end a session (CIP §9)
HUMAN_KEY_HINT = (
    "give the runner a human key the target's operator authorised: create one with "
    "`web4 human --data-dir DIR --print-key`, have the operator run `web4 human-key add "
    "<its fingerprint> --data-dir <the target's data dir>`, then `web4 conformance ADDR "
    "--human-key DIR`"
)
HUMAN = HumanState(
    presence="focused", affect="calm", clarity=80, pressure=20, intent="conformance",
    consent="granted",
)  # fmt: skip


def _step(target: Target) -> float:
    return max(target.quiet, 0.4 * target.timeout)


def _hello(p: Peer, *, at: float | None = None) -> Env:
    """A valid, signed HCP_HELLO from ``p`` to the target (consent granted)."""
    return build_hcp(
        p.identity,
        receiver_id=p.target.receiver.agent_id,
        receiver_fingerprint=p.target.fingerprint,
        payload=HcpHello(HumanIdentity("Conformance", "tester"), [], []),
        human=HUMAN,
        clock=_CLOCK if at is None else _Fixed(at),
        rng=SystemRng(),
        sender_view="untrusted",
    )


class _Fixed:
    def __init__(self, t: float) -> None:
        self.t = t

    def now(self) -> float:
        return self.t

    def monotonic(self) -> float:
        return self.t


def _is_hcp(g: Got) -> bool:
    return g.envelope is not None and "hcp" in g.envelope


def _from_target(p: Peer, got: Got) -> Any:
    """``got`` validated as an HCP envelope the target signed for us. Raises Mismatch."""
    target = p.target.fingerprint
    validator: Validator[Any] = Validator(
        HCP_SPEC,
        our_fingerprint=p.fingerprint,
        clock=_CLOCK,
        replay=ReplayCache(),
        trust_gate=lambda sender, _t: None if sender == target else "not the target",
    )
    try:
        return validator.validate(got.raw)
    except RemoteError as e:
        raise Mismatch(f"an HCP answer that does not validate: {type(e).__name__}: {e}") from e


async def _answered(p: Peer, since: int, what: str) -> Any:
    """The next HCP message from ``since`` on, validated as the target's answer to us."""
    got = await p.wait(_is_hcp, _step(p.target), since)
    if got is None:
        ended = " (the target ended the session)" if p.closed else ""
        raise Mismatch(f"no HCP answer to {what}{ended}")
    return _from_target(p, got)


async def _refused(p: Peer, since: int, what: str) -> None:
    """The next HCP message from ``since`` on is the target's signed not_authorized
    refusal."""
    env = await _answered(p, since, what)
    reason = refusal_of(env.payload)
    if env.type != "HCP_CONTEXT" or reason != "not_authorized":
        raise Mismatch(f"{what} was answered by {env.type} {_markers(env.payload)}, not refused")


def _markers(payload: Any) -> str:
    return str(payload.constraints) if isinstance(payload, HcpContext) else ""


# --- HCP ------------------------------------------------------------------------------


async def _authorised_hello(target: Target) -> None:
    if target.human is None:
        raise Mismatch("not played: no authorised human key; " + HUMAN_KEY_HINT)
    async with Peer(target, "human", identity=target.human) as p:
        await p.send(wire(_hello(p)))
        got = await p.wait(_is_hcp, _step(target))
        if got is None:
            ended = " (the target ended the session)" if p.closed else ""
            raise Mismatch(f"no HCP answer to the authorised human's HCP_HELLO{ended}")
        env = _from_target(p, got)
        if refusal_of(env.payload) == "not_authorized":
            raise Mismatch(
                f"refused as not_authorized: key {p.fingerprint} is not authorised on the "
                "target; " + HUMAN_KEY_HINT
            )
        if env.type not in {"HCP_CONTEXT", "HCP_DECISION"}:
            raise Mismatch(f"answered by {env.type}")


async def _unknown_hello(target: Target) -> None:
    async with Peer(target, "unknown-human") as p:
        await p.send(wire(_hello(p)))
        await _refused(p, 0, "an unknown key's HCP_HELLO")
        first = len(p.received)
        more = await p.silence(target.quiet, first, channel=None)
        if more is not None:
            raise Mismatch(f"after the refusal the target also sent {more.describe()}")
        if p.closed:
            raise Mismatch("the target ended the session after the refusal")


Bad = Callable[[Peer, Env], bytes]


def _resign(edit: Callable[[Env], None]) -> Bad:
    def bad(p: Peer, env: Env) -> bytes:
        out = copy.deepcopy(env)
        edit(out)
        return wire(p.sign(out))

    return bad


def _unsigned(edit: Callable[[Env], None]) -> Bad:
    def bad(p: Peer, env: Env) -> bytes:
        out = copy.deepcopy(env)
        edit(out)
        return wire(out)

    return bad


def _set(path: str, value: object) -> Callable[[Env], None]:
    *parents, last = path.split(".")

    def edit(env: Env) -> None:
        target = env
        for key in parents:
            target = target[key]
        target[last] = value

    return edit


def _stale(p: Peer, env: Env) -> bytes:
    return wire(_hello(p, at=time.time() - SKEW))


def _to_another(p: Peer, env: Env) -> bytes:
    other = SystemRng().bytes(32).hex()
    return _resign(_set("receiver", {"agent_id": other[:16], "fingerprint": other}))(p, env)


def _bad_hcp_case(
    name: str, title: str, bad: Bad, spec: str, vector: str | None, replay: bool = False
) -> None:
    async def play(target: Target) -> None:
        async with Peer(target, "bad-human") as p:
            if replay:  # the valid HELLO first (refused), then its replay
                first = _hello(p)
                await p.send(wire(first))
                await _answered(p, 0, "the first HCP_HELLO")
                data = wire(first)
            else:
                data = bad(p, _hello(p))
            since = len(p.received)
            await p.send(data)
            got = await p.silence(target.quiet, since, channel=None)
            if got is not None:
                raise Mismatch(f"an answer to the bad HCP_HELLO: {got.describe()}")
            if p.closed:
                raise Mismatch("the target ended the session after the bad HCP_HELLO")
            since = len(p.received)
            await p.send(wire(_hello(p)))
            await _answered(p, since, "the valid HCP_HELLO that followed")

    register(
        Case(
            name,
            title,
            "no answer (dropped alone); the valid HCP_HELLO that follows is answered (the "
            "signed not_authorized refusal: the runner's fresh key is not authorised)",
            spec,
            "negative",
            play,
            vector=vector,
        )
    )


# --- LIP ------------------------------------------------------------------------------

URI = "https://example.org/conformance"
STATEMENTS = (
    "Conformance claims are sentences extracted from a fetched page.",
    "Every claim a peer sends must come with its evidence.",
)


def _lip(p: Peer, payload: Any) -> Env:
    now = _CLOCK.now()
    return build_lip(
        p.identity,
        receiver_id=p.target.receiver.agent_id,
        receiver_fingerprint=p.target.fingerprint,
        payload=payload,
        source=Source(uri=URI, trust_tier="unknown", retrieved_at=rfc3339(now - 5)),
        clock=_CLOCK,
        rng=SystemRng(),
        trust=TrustViews(sender_view="probing", receiver_view="probing"),
    )


def _evidence(p: Peer) -> bytes:
    body = " ".join(STATEMENTS).encode()
    evidence = LipEvidence(
        claims=[Claim(claim_id(s), s, f"p[{i}]") for i, s in enumerate(STATEMENTS)],
        evidence=Evidence(
            uri=URI, final_uri=URI, retrieved_at=rfc3339(_CLOCK.now() - 5),
            sha256=hashlib.sha256(body).hexdigest(),
            content_type="text/plain", size=len(body),
        ),
        confidence=0.4,
    )  # fmt: skip
    return wire(_lip(p, evidence))


def _without_evidence(p: Peer) -> bytes:
    """The original's LIP_EVIDENCE shape, claims as strings and no evidence at all."""
    env = _lip(p, _placeholder())
    env["payload"] = {"claims": list(STATEMENTS), "evidence": [], "confidence": 0.4}
    return wire(p.sign(env))


def _placeholder() -> LipEvidence:
    return LipEvidence(
        claims=[],
        evidence=Evidence(URI, URI, rfc3339(_CLOCK.now()), "0" * 64, "text/plain", 0),
        confidence=0.4,
    )


async def _lip_flood(p: Peer, make: Callable[[Peer], bytes]) -> None:
    for _ in range(FLOOD):
        try:
            await p.send(make(p), channel="knowledge")
        except RTTError:  # the target may end the session mid-way
            return


async def _lip_evidence(target: Target) -> None:
    async with Peer(target, "lip-peer") as p:
        await _handshake(p)
        await _lip_flood(p, _evidence)
        if await p.wait_closed(target.quiet):
            raise Mismatch(
                f"the target ended the session after {FLOOD} valid LIP_EVIDENCE messages "
                "(it refused them as faults)"
            )


async def _lip_without_evidence(target: Target) -> None:
    async with Peer(target, "lip-peer") as p:
        await _handshake(p)
        await _lip_flood(p, _without_evidence)
        if not await p.wait_closed(_step(target)):
            raise Mismatch(
                f"the session stayed open after {FLOOD} LIP_EVIDENCE messages with claims and "
                "no evidence (they were not refused)"
            )


# --- the catalogue --------------------------------------------------------------------

_NEG: Kind = "negative"
_POS: Kind = "positive"
_HCP_BAD = "CIP_SPEC §5 (HCP_SPEC §3)"


def _register() -> None:
    register(
        Case(
            "hcp.hello.authorised",
            "an HCP_HELLO with no CIP handshake from a human key the target's operator "
            "authorised (the runner's --human-key; setup: web4 human-key add <its fingerprint> "
            "on the target)",
            "an HCP answer from the agent (HCP_CONTEXT or HCP_DECISION, signed by the target), "
            "not the not_authorized refusal",
            "HCP_SPEC §9, §9.1",
            _POS,
            _authorised_hello,
        )
    )
    register(
        Case(
            "hcp.hello.unknown_human",
            "an HCP_HELLO from a key the operator did not authorise",
            "exactly one answer, the signed HCP_CONTEXT refusal [agent:refused, "
            "reason:not_authorized], and nothing else; the session stays open",
            "HCP_SPEC §9.1",
            _NEG,
            _unknown_hello,
            vector="hello_from_unknown_human",
        )
    )
    for name, title, bad, spec, vector in (
        ("tampered_state", "an HCP_HELLO whose state.human.consent was changed after signing",
         _unsigned(_set("state.human.consent", "revoked")), _HCP_BAD + " check 3",
         "tampered_human_state"),
        ("version_2_0", 'an HCP_HELLO with hcp "2.0", correctly signed',
         _resign(_set("hcp", "2.0")), _HCP_BAD + " check 1", "version_2_0"),
        ("unknown_safety_flag", 'an HCP_HELLO whose safety_flags are ["be_nice"], signed',
         _resign(_set("payload.safety_flags", ["be_nice"])), "HCP_SPEC §2, H6",
         "unknown_safety_flag"),
        ("sign_extra_member", 'an HCP_HELLO with an extra member in sign ("sign.extra": 1)',
         _unsigned(_set("sign.extra", 1)), _HCP_BAD + " check 1; CIP_SPEC §1",
         "sign_with_extra_member"),
        ("wrong_receiver", "an HCP_HELLO addressed to another key, correctly signed",
         _to_another, _HCP_BAD + " check 4", "addressed_to_another_agent"),
        ("stale", "an HCP_HELLO timestamped 300 s ago", _stale, _HCP_BAD + " check 5",
         "stale_timestamp"),
    ):  # fmt: skip
        _bad_hcp_case(f"hcp.hello.{name}", title, bad, spec, vector)
    _bad_hcp_case(
        "hcp.hello.replay",
        "an HCP_HELLO (refused: not authorised), then the same bytes again",
        _unsigned(lambda env: None),
        _HCP_BAD + " check 6",
        "replay_same_bytes",
        replay=True,
    )
    register(
        Case(
            "lip.evidence.with_evidence",
            f"after the CIP handshake, {FLOOD} LIP_EVIDENCE messages on knowledge, each with "
            "two claims and the provenance object",
            "handled, not refused: the session stays open (refused messages are faults, and "
            "the 20th fault in a window ends a session)",
            "LIP_SPEC §3, §9; CIP_SPEC §9 Faults",
            _POS,
            _lip_evidence,
            vector="evidence_from_probing",
        )
    )
    register(Case(
        "lip.evidence.without_evidence",
        f"after the CIP handshake, {FLOOD} LIP_EVIDENCE messages in the original's shape "
        "with two claims and an empty evidence list",
        "each refused (claims without evidence are never taken), so the target ends the "
        "session at the 20th fault",
        "LIP_SPEC §3, L7; CIP_SPEC §9 Faults", _NEG, _lip_without_evidence,
        vector="original_claims_without_evidence",
    ))  # fmt: skip


_register()
