"""The CIP cases of the wire conformance runner (and the RTT session they stand on).

Theory of operation: the one message that always gets an answer is the initiator's first
``HELLO`` (CIP section 6: the responder answers it with its own ``HELLO``), and the one
after it, the confirming ``HELLO``, gets a ``STATE_UPDATE``. So most negative cases send a
bad first ``HELLO`` and then a valid one, in a session of a fresh identity:

- *dropped* (CIP section 6, "every other bad input ... is dropped alone"): no answer for
  ``Target.quiet`` seconds, then the valid ``HELLO`` is answered and its challenge
  response verifies (the target kept serving this very session);
- *fails the handshake* (a bad signature or fingerprint from the link's peer, a HELLO
  without ``cip/1.0``): no answer, and the target ends the session; then a fresh peer is
  still answered.

The bad envelopes mirror the refused cases of ``docs/conformance/cip_envelopes.json``
(named in ``Case.vector``), re-targeted: signed by the runner's fresh key, addressed to the
target, timestamped now. Cases after the handshake use what CIP sections 5, 7 and 9 make
observable: a peer blacklisted by a fingerprint mismatch gets no answer to its next
HELLO; one demoted by a bad signature cannot finish a new handshake during its cooldown
(an ``untrusted`` peer may send only HELLO, so its ``STATE_UPDATE`` and ``INTENT`` are
refused and no decision comes back); a flood of faulty messages ends the session.
"""

from __future__ import annotations

import base64
import contextlib
import json
import time
from collections.abc import Awaitable, Callable

import msgspec

from web4.cip import Handshake, Step
from web4.cip._proof import sign_response
from web4.cip.events import PeerVerified
from web4.cip.messages import (
    CIP_SPEC,
    DecisionShare,
    DmpTrace,
    Hello,
    Intent,
    SharedDecision,
    StateUpdate,
)
from web4.clock import SystemClock, SystemRng
from web4.conformance.runner import Case, Kind, Mismatch, register
from web4.conformance.wire import Env, Got, Peer, Target, handshake_for, wire
from web4.envelope.head import new_msg_id
from web4.errors import RTTError
from web4.identity import Identity

__all__: list[str] = []

_CLOCK = SystemClock()
ED25519_L = 2**252 + 27742317777372353535851937790883648493
SKEW = 300.0  # well outside the ±120 s of CIP section 5, so clocks a little apart agree


def _step(target: Target) -> float:
    """How long one expected reaction may take (a share of the case timeout)."""
    return max(target.quiet, 0.4 * target.timeout)


def _is_hello(g: Got) -> bool:
    return g.channel == "control" and g.type == "HELLO"


# --- building blocks ----------------------------------------------------------------------


async def _first_hello(p: Peer) -> tuple[Handshake, bytes]:
    """A started initiator handshake and its first HELLO (not sent yet)."""
    hs = handshake_for(p)
    hs.start(_CLOCK.now())
    data = hs.next_outgoing()
    assert data is not None
    return hs, data


def _fresh(p: Peer, data: bytes) -> Env:
    """The envelope ``data`` under a new msg_id, signed again (same payload)."""
    env: Env = json.loads(data)
    env["msg_id"] = new_msg_id(SystemRng())
    return p.sign(env)


async def _expect_answered(p: Peer, hs: Handshake, data: bytes, since: int, what: str) -> Got:
    """Send ``data`` (a valid HELLO of ``hs``) and require a HELLO answer whose challenge
    response verifies."""
    await p.send(data)
    got = await p.wait(_is_hello, _step(p.target), since)
    if got is None:
        ended = " (the target ended the session)" if p.closed else ""
        raise Mismatch(f"no HELLO answered {what}{ended}")
    events = hs.receive(got.raw, _CLOCK.now())
    if not any(isinstance(e, PeerVerified) for e in events):
        raise Mismatch(f"the HELLO that answered {what} did not verify: {events}")
    return got


async def _expect_silence(p: Peer, since: int, after: str) -> None:
    got = await p.silence(p.target.quiet, since)
    if got is not None:
        raise Mismatch(f"an answer to {after}: {got.describe()}")
    if p.closed:
        raise Mismatch(f"the target ended the session after {after}")


async def _expect_ended(p: Peer, since: int, after: str) -> None:
    step = _step(p.target)
    ended = await p.wait_closed(step)
    answers = [g for g in p.received[since:] if g.channel == "control"]
    if answers:
        raise Mismatch(f"an answer to {after}: {answers[0].describe()}")
    if not ended:
        raise Mismatch(f"the session stayed open {step:g} s after {after}")


async def _fresh_peer_served(target: Target) -> None:
    """A fresh identity's HELLO is still answered (the target keeps serving others)."""
    async with Peer(target, "bystander") as q:
        hs, data = await _first_hello(q)
        await _expect_answered(q, hs, data, 0, "a fresh peer's HELLO afterwards")


async def _handshake(p: Peer) -> Handshake:
    """The full CIP handshake as initiator; Mismatch unless it is accepted."""
    hs = handshake_for(p)
    hs.start(_CLOCK.now())
    await p.drive(hs, _step(p.target))
    if hs.step is not Step.ACCEPTED:
        ended = ", the target ended the session" if p.closed else ""
        raise Mismatch(f"the handshake stopped in {hs.step.value}{ended}")
    return hs


# --- bad first HELLOs -------------------------------------------------------------------

Mutate = Callable[[Peer, Env], bytes]


def _resigned(path: str, value: object) -> Mutate:
    def mutate(p: Peer, env: Env) -> bytes:
        _put(env, path, value)
        return wire(p.sign(env))

    return mutate


def _unsigned(path: str, value: object) -> Mutate:
    def mutate(p: Peer, env: Env) -> bytes:
        _put(env, path, value)
        return wire(env)

    return mutate


def _put(env: Env, path: str, value: object) -> None:
    keys = path.split(".")
    target = env
    for key in keys[:-1]:
        target = target[key]
    target[keys[-1]] = value


def _text(old: str, new: str) -> Mutate:
    def mutate(p: Peer, env: Env) -> bytes:
        text = wire(env).decode("utf-8")
        if old not in text:
            raise AssertionError(f"{old!r} not in the HELLO")  # a catalogue bug
        return text.replace(old, new, 1).encode("utf-8")

    return mutate


def _padded(p: Peer, env: Env) -> bytes:
    data = wire(env)
    return data + b" " * (CIP_SPEC.limits.max_bytes + 1 - len(data))


def _cut(p: Peer, env: Env) -> bytes:
    return wire(env)[:-1]


def _array(p: Peer, env: Env) -> bytes:
    return b"[" + wire(env) + b"]"


def _not_utf8(p: Peer, env: Env) -> bytes:
    return wire(env).replace(b"state_exchange", b"state\xffexchange", 1)


def _sig(env: Env) -> bytes:
    return base64.b64decode(env["sign"]["signature"])


def _with_sig(env: Env, sig: bytes) -> bytes:
    env["sign"]["signature"] = base64.b64encode(sig).decode()
    return wire(env)


def _bit_flipped(p: Peer, env: Env) -> bytes:
    sig = bytearray(_sig(env))
    sig[10] ^= 0x01
    return _with_sig(env, bytes(sig))


def _s_plus_l(p: Peer, env: Env) -> bytes:
    sig = _sig(env)
    s = int.from_bytes(sig[32:], "little") + ED25519_L
    return _with_sig(env, sig[:32] + s.to_bytes(32, "little"))


def _all_zero(p: Peer, env: Env) -> bytes:
    return _with_sig(env, bytes(64))


def _by_another_key(p: Peer, env: Env) -> bytes:
    return wire(p.sign(env, by=Identity.generate("other")))


def _tampered_timestamp(p: Peer, env: Env) -> bytes:
    ts = str(env["timestamp"])  # YYYY-MM-DDTHH:MM:SS.mmmZ, as this runtime sends
    ms = (int(ts[-4:-1]) + 1) % 1000
    env["timestamp"] = f"{ts[:-4]}{ms:03d}Z"
    return wire(env)


def _other_fp() -> str:
    return Identity.generate("other").fingerprint


def _at(offset: float) -> Mutate:
    def mutate(p: Peer, env: Env) -> bytes:
        shifted = p.build(_hello_payload(env), at=_CLOCK.now() + offset)
        return wire(shifted)

    return mutate


def _impossible_time(p: Peer, env: Env) -> bytes:
    now = _CLOCK.now()
    t = now if time.gmtime(now).tm_sec <= 39 else now - 40  # seconds 60..99: two digits
    g = time.gmtime(t - 60)  # the previous minute ...
    sec = time.gmtime(t).tm_sec + 60  # ... and its second 60 + s, which is t
    ms = int((t % 1) * 1000)
    env["timestamp"] = time.strftime("%Y-%m-%dT%H:%M:", g) + f"{sec:02d}.{ms:03d}Z"
    return wire(p.sign(env))


def _from_another_key(p: Peer, env: Env) -> bytes:
    other = Peer(p.target, "other")  # never connected: only its key signs
    return wire(other.build(_hello_payload(env)))


def _hello_payload(env: Env) -> Hello:
    return msgspec.convert(env["payload"], Hello)


def _intent_first(p: Peer, env: Env) -> bytes:
    return wire(p.build(Intent(goal="ask", topic="conformance")))


def _bad_hello_case(
    name: str,
    title: str,
    mutate: Mutate,
    *,
    fails: bool = False,
    kind: Kind = "negative",
    vector: str | None = None,
    spec: str = "CIP_SPEC §5, §6 (Rules)",
    why: str = "",
) -> None:
    if fails:
        expect = (
            "no answer; the handshake fails and the target ends the session; a fresh peer "
            "is still answered"
        )
    else:
        expect = "no answer (dropped alone); the valid HELLO that follows is answered"
    if why:
        expect += f" ({why})"

    async def play(target: Target) -> None:
        async with Peer(target) as p:
            hs, good = await _first_hello(p)
            bad = mutate(p, _fresh(p, good))
            await p.send(bad)
            if fails:
                await _expect_ended(p, 0, "the bad HELLO")
            else:
                await _expect_silence(p, 0, "the bad HELLO")
                await _expect_answered(p, hs, good, len(p.received), "the valid HELLO")
        if fails:
            await _fresh_peer_served(target)

    register(Case(f"cip.hello.{name}", title, expect, spec, kind, play, vector=vector))


def _good_hello_case(name: str, title: str, mutate: Mutate, spec: str, vector: str | None) -> None:
    async def play(target: Target) -> None:
        async with Peer(target) as p:
            hs, good = await _first_hello(p)
            await _expect_answered(p, hs, mutate(p, _fresh(p, good)), 0, "the HELLO")

    expect = "answered by a HELLO whose challenge response verifies"
    register(Case(f"cip.hello.{name}", title, expect, spec, "positive", play, vector=vector))


def _non_canonical(p: Peer, env: Env) -> bytes:
    return json.dumps(dict(reversed(list(env.items()))), indent=1).encode("ascii")


def _offset_timestamp(p: Peer, env: Env) -> bytes:
    ts = str(env["timestamp"])  # YYYY-MM-DDTHH:MM:SS.mmmZ: the same instant at +02:00
    hour = int(ts[11:13]) + 2
    if hour >= 24:  # keep it simple: the same instant at -02:00 instead
        hour -= 4
        zone = "-02:00"
    else:
        zone = "+02:00"
    env["timestamp"] = f"{ts[:11]}{hour:02d}{ts[13:-1]}{zone}"
    return wire(p.sign(env))


def _register_good_hellos() -> None:
    _good_hello_case(
        "non_canonical", "a first HELLO as indented JSON, its members in reverse order",
        _non_canonical, "CIP_SPEC §1 Canonical form (the signature covers the RFC 8785 form)",
        "non_canonical_wire_text",
    )  # fmt: skip
    _good_hello_case(
        "non_ascii", "a first HELLO whose sender.agent_id is non-ASCII (outside the BMP too)",
        _resigned("sender.agent_id", "Wasser 水 \U0001f321"), "CIP_SPEC §1 Canonical form",
        "non_ascii_strings_and_small_number",
    )  # fmt: skip
    _good_hello_case(
        "timestamp_offset", "a first HELLO whose timestamp has a numeric offset (+02:00)",
        _offset_timestamp, "CIP_SPEC §1 Timestamps", None,
    )  # fmt: skip


def _register_bad_hellos() -> None:
    limit = CIP_SPEC.limits.max_bytes
    # check 1: size, syntax, structure (InvalidEnvelopeError: dropped)
    _bad_hello_case(
        "oversize", f"a HELLO padded with spaces to {limit + 1} bytes (limit {limit})",
        _padded, vector="oversize_by_one_byte", spec="CIP_SPEC §2, §5 check 1",
    )  # fmt: skip
    _bad_hello_case(
        "version_2_0", 'a HELLO with cip "2.0", correctly signed', _resigned("cip", "2.0"),
        vector="version_2_0", spec="CIP_SPEC §1 Versions, §5 check 1; RTT_SPEC §14",
    )  # fmt: skip
    _bad_hello_case(
        "version_2_0_bad_signature",
        'a HELLO with cip "2.0" and a signature that does not verify',
        _unsigned("cip", "2.0"), vector="version_2_0_bad_signature",
        spec="CIP_SPEC §5 (check 1 before check 3)",
        why="the version is checked before the signature, so no trust event",
    )  # fmt: skip
    _bad_hello_case(
        "duplicate_key", 'a HELLO whose member "type" appears twice',
        _text('"type":"HELLO"', '"type":"HELLO","type":"HELLO"'),
        vector="duplicate_key", spec="CIP_SPEC §2, §5 check 1",
    )  # fmt: skip
    _bad_hello_case(
        "timestamp_space", "a HELLO whose timestamp has a space instead of T, signed",
        lambda p, env: _resigned("timestamp", str(env["timestamp"]).replace("T", " "))(p, env),
        vector="timestamp_with_space_separator", spec="CIP_SPEC §1 Timestamps, §5 check 1",
    )  # fmt: skip
    # check 2 before check 3
    _bad_hello_case(
        "payload_before_signature",
        "a HELLO whose session_nonce is 3 bytes, not re-signed",
        _unsigned("payload.session_nonce", "AAAA"), spec="CIP_SPEC §3, §5 (check 2 before 3)",
        why="the payload shape is checked before the signature, so no trust event",
    )  # fmt: skip
    # check 3 from the link's peer: the handshake fails
    for name, title, mutate, vector in (
        ("wrong_fingerprint", "sender.fingerprint of another key, our pubkey, re-signed",
         _resigned("sender.fingerprint", _other_fp()), "wrong_fingerprint"),
        ("tampered_payload", "payload.capabilities changed after signing",
         _unsigned("payload.capabilities", ["tampered"]), "tampered_payload"),
        ("tampered_timestamp", "timestamp moved by 1 ms after signing", _tampered_timestamp,
         "tampered_timestamp"),
        ("tampered_trust_view", "trust.sender_view changed after signing",
         _unsigned("trust.sender_view", "trusted"), "tampered_trust_view"),
        ("signature_bit_flipped", "one bit of the signature flipped", _bit_flipped,
         "signature_bit_flipped"),
        ("signature_by_another_key", "claims our key, signed with another key",
         _by_another_key, "signature_by_another_key"),
        ("signature_s_not_reduced", "the signature's S replaced by S + L (strict Ed25519)",
         _s_plus_l, "signature_s_not_reduced"),
        ("signature_all_zero", "sign.signature is 64 zero bytes", _all_zero,
         "signature_all_zero"),
    ):  # fmt: skip
        _bad_hello_case(
            name, f"a first HELLO: {title}", mutate, fails=True, vector=vector,
            spec="CIP_SPEC §1, §5 check 3, §6 Rules",
        )  # fmt: skip
    _bad_hello_case(
        "wrong_sign_algo", 'a HELLO whose sign.algo is "rsa" (sign is not signed, so the '
        "signature still verifies)", _unsigned("sign.algo", "rsa"), vector="wrong_sign_algo",
        spec="CIP_SPEC §1, §5 check 1",
    )  # fmt: skip
    _bad_hello_case(
        "lri_out_of_range", "a HELLO whose state.lri is 101, signed",
        _resigned("state.lri", 101), vector="lri_out_of_range", spec="CIP_SPEC §1, §2, §5 "
        "check 1",
    )  # fmt: skip
    # check 4, 5: dropped
    _bad_hello_case(
        "wrong_receiver", "a HELLO addressed to another key, correctly signed",
        _resigned("receiver.fingerprint", _other_fp()),
        vector="addressed_to_another_agent", spec="CIP_SPEC §5 check 4",
    )  # fmt: skip
    _bad_hello_case(
        "stale", f"a HELLO timestamped {SKEW:g} s ago", _at(-SKEW),
        vector="stale_timestamp", spec="CIP_SPEC §5 check 5 (±120 s)",
    )  # fmt: skip
    _bad_hello_case(
        "impossible_time", "a HELLO timestamped now but written with second 60 + s of the "
        "previous minute (e.g. 07:03:75 for 07:04:15), signed: no real time, though a "
        "parser that rolls fields over reads now", _impossible_time,
        vector="impossible_date", spec="CIP_SPEC §1 Timestamps, §5 check 5",
    )  # fmt: skip
    _bad_hello_case(
        "future", f"a HELLO timestamped {SKEW:g} s ahead", _at(SKEW),
        vector="future_timestamp", spec="CIP_SPEC §5 check 5 (±120 s)",
    )  # fmt: skip
    # the handshake's binding to the link's key
    _bad_hello_case(
        "from_another_key", "a valid HELLO signed by (and claiming) a key other than the "
        "session's", _from_another_key, spec="CIP_SPEC §9 Handshake binding",
    )  # fmt: skip
    _bad_hello_case(
        "without_cip_1_0", 'a HELLO whose protocols are ["cip/2.0"], signed',
        _resigned("payload.protocols", ["cip/2.0"]), fails=True,
        spec="CIP_SPEC §3, §6 Rules (no cip/1.0: the handshake fails)",
    )  # fmt: skip
    # robustness: refused by more than one check, so no single broken check shows
    for name, title, mutate, vector in (
        ("malformed_json", "the HELLO cut off before its last byte", _cut, "malformed_json"),
        ("not_an_object", "the HELLO inside a JSON array", _array, "not_an_object"),
        ("not_utf8", "a byte 0xff inside a capability", _not_utf8, "not_utf8"),
        ("nan_number", "state.lri is the literal NaN", _text('"lri":20', '"lri":NaN'),
         "nan_number"),
        ("nested_too_deep", "state.kernel_signals nested 9 arrays deep",
         _text('"kernel_signals":[]', '"kernel_signals":[[[[[[[[[]]]]]]]]]'),
         "nested_too_deep"),
        ("missing_sign", "the sign member is absent",
         lambda p, env: wire({k: v for k, v in env.items() if k != "sign"}), "missing_sign"),
        ("unknown_message_type", 'type "GOODBYE", signed', _resigned("type", "GOODBYE"),
         "unknown_message_type"),
        ("intent_first", "an INTENT before any HELLO (an untrusted peer may send only "
         "HELLO)", _intent_first, "intent_from_untrusted"),
    ):  # fmt: skip
        _bad_hello_case(
            name, title, mutate, kind="robustness", vector=vector,
            spec="CIP_SPEC §2, §5", why="a refusal with no observable difference between checks",
        )  # fmt: skip


# --- positive cases and the handshake's own steps ----------------------------------------


async def _rtt_session(target: Target) -> None:
    async with Peer(target) as p:
        if p.closed:
            raise Mismatch("the session ended at once")


async def _full_handshake(target: Target) -> None:
    async with Peer(target) as p:
        await _handshake(p)
        sent = [g for g in p.received if g.channel == "control"]
        types = [g.type for g in sent]
        if types[:2] != ["HELLO", "STATE_UPDATE"]:
            raise Mismatch(f"the target sent {types}, not HELLO then STATE_UPDATE first")
        decision = sent[-1].payload.get("intent")
        if not (isinstance(decision, str) and decision.startswith("accept:")):
            raise Mismatch(f"the last STATE_UPDATE's payload intent is {decision!r}")


async def _trust_views(target: Target) -> None:
    async with Peer(target) as p:
        await _handshake(p)
        hello = next(g for g in p.received if g.type == "HELLO")
        views = hello.envelope.get("trust", {}) if hello.envelope else {}
        # over RTT the transport authenticated our key, so the responder has verified us
        # by our first HELLO (CIP §6, the authenticated variant)
        if views.get("sender_view") != "probing" or views.get("receiver_view") != "unknown":
            raise Mismatch(f"the answering HELLO carries trust {views}")
        for g in p.received:
            if g.type != "STATE_UPDATE" or g.channel != "control":
                continue
            views = g.envelope.get("trust", {}) if g.envelope else {}
            ltp = g.payload.get("ltppeerstate")
            if views.get("sender_view") != "probing" or ltp != "probing":
                raise Mismatch(
                    f"a handshake STATE_UPDATE carries trust {views}, ltppeerstate {ltp!r}"
                )


async def _repeat(target: Target) -> None:
    async with Peer(target) as p:
        hs, good = await _first_hello(p)
        await _expect_answered(p, hs, good, 0, "the HELLO")
        again = wire(_fresh(p, good))
        n = len(p.received)
        await p.send(again)
        if await p.wait(_is_hello, _step(target), n) is None:
            raise Mismatch("no HELLO answered the repeated HELLO (same payload, new msg_id)")


def _replay(reformat: bool) -> Callable[[Target], Awaitable[None]]:
    async def play(target: Target) -> None:
        async with Peer(target) as p:
            hs, good = await _first_hello(p)
            await _expect_answered(p, hs, good, 0, "the HELLO")
            replay = json.dumps(json.loads(good), indent=2).encode() if reformat else good
            n = len(p.received)
            await p.send(replay)
            await _expect_silence(p, n, "the replayed HELLO")
            n = len(p.received)
            await p.send(wire(_fresh(p, good)))
            if await p.wait(_is_hello, _step(target), n) is None:
                raise Mismatch("no HELLO answered the repeat (new msg_id) after the replay")

    return play


async def _confirm_case(target: Target, bad_confirm: Callable[[Peer, Env, Got], bytes]) -> None:
    async with Peer(target) as p:
        hs, good = await _first_hello(p)
        answer = await _expect_answered(p, hs, good, 0, "the HELLO")
        queued = []
        while (data := hs.next_outgoing()) is not None:
            queued.append(data)
        confirm = json.loads(queued[0])
        n = len(p.received)
        await p.send(bad_confirm(p, confirm, answer))
        with contextlib.suppress(RTTError):  # the target may have ended the session
            for data in queued[1:]:  # our STATE_UPDATE
                await p.send(data)
        await _expect_ended(p, n, "the bad confirming HELLO")
    await _fresh_peer_served(target)


def _wrong_response(p: Peer, confirm: Env, answer: Got) -> bytes:
    confirm["payload"]["challenge_response"] = base64.b64encode(
        p.identity.sign(b"not the challenge")
    ).decode()
    return wire(p.sign(confirm))


def _changed_nonce(p: Peer, confirm: Env, answer: Got) -> bytes:
    nonce = SystemRng().bytes(16)
    theirs = answer.payload
    confirm["payload"]["session_nonce"] = base64.b64encode(nonce).decode()
    confirm["payload"]["challenge_response"] = sign_response(
        p.identity,
        base64.b64decode(str(theirs["challenge"])),
        p.target.fingerprint,
        nonce,
        base64.b64decode(str(theirs["session_nonce"])),
    )  # valid for the changed nonce: only the change itself is wrong
    return wire(p.sign(confirm))


# --- after the handshake ------------------------------------------------------------------


def _state_update(p: Peer) -> Env:
    return p.build(
        StateUpdate(presence="focused", lri=20, ltppeerstate="probing"),
        sender_view="probing",
        receiver_view="probing",
    )


async def _after_bad_signature(target: Target) -> None:
    identity: Identity
    async with Peer(target) as p:
        await _handshake(p)
        identity = p.identity
        await p.send(_bit_flipped(p, _state_update(p)), channel="state")
        await p.silence(target.quiet, len(p.received), channel=None)  # let it be judged
    async with Peer(target, identity=identity) as q:
        hs = handshake_for(q)
        hs.start(_CLOCK.now())
        await q.drive(hs, target.quiet + 0.2 * target.timeout)
        if hs.step is Step.ACCEPTED:
            raise Mismatch("a new handshake was accepted right after a bad signature")


async def _after_wrong_fingerprint(target: Target) -> None:
    async with Peer(target) as p:
        await _handshake(p)
        identity = p.identity
        env = _state_update(p)
        env["sender"]["fingerprint"] = _other_fp()
        await p.send(wire(p.sign(env)), channel="state")
        await p.silence(target.quiet, len(p.received), channel=None)
    await _blacklisted(target, identity)


async def _blacklisted(target: Target, identity: Identity) -> None:
    async with Peer(target, identity=identity) as q:
        _, good = await _first_hello(q)
        await q.send(good)
        await _expect_silence(q, 0, "a blacklisted key's valid HELLO")


async def _hello_blacklisted(target: Target) -> None:
    async with Peer(target) as p:
        _, good = await _first_hello(p)
        await p.send(_resigned("sender.fingerprint", _other_fp())(p, _fresh(p, good)))
        identity = p.identity
        await p.wait_closed(_step(target))
    await _blacklisted(target, identity)


async def _flood(target: Target) -> None:
    async with Peer(target) as p:
        await _handshake(p)
        for i in range(25):
            try:
                await p.send(b"not an envelope %d" % i, channel="knowledge")
            except RTTError:  # the target may hang up mid-flood
                break
        if not await p.wait_closed(_step(target)):
            raise Mismatch("the session stayed open after 25 faulty messages")


async def _decision_from_probing(target: Target) -> None:
    async with Peer(target) as p:
        await _handshake(p)
        env = p.build(
            DecisionShare(
                decision=SharedDecision(choice="conformance", outcome="none"),
                dmp_trace=DmpTrace(decision_id="5e0c1f5a-6b7d-4e8f-9a0b-1c2d3e4f5a6b"),
            ),
            sender_view="probing",
            receiver_view="probing",
        )
        await p.send(wire(env), channel="knowledge")
        await p.silence(target.quiet, len(p.received), channel=None)
        if p.closed:
            raise Mismatch("the target ended the session")
    await _fresh_peer_served(target)


def _register_others() -> None:
    pos: Kind = "positive"
    neg: Kind = "negative"
    register(Case(
        "rtt.session", "dial the address (Noise with its peer id, yamux) and open an RTT "
        "session (OPEN answered by RESUME_OK)", "the session opens", "RTT_SPEC §3, §5.5, §13",
        pos, _rtt_session, profiles=frozenset({"web4", "original"}),
    ))  # fmt: skip
    register(Case(
        "cip.handshake", "the full CIP handshake as initiator (HELLO, confirming HELLO, "
        "STATE_UPDATE, INTENT)", "HELLO (its challenge response verifies), STATE_UPDATE, "
        "then a STATE_UPDATE whose payload intent is accept:<our INTENT's msg_id>",
        "CIP_SPEC §6", pos, _full_handshake,
    ))  # fmt: skip
    register(Case(
        "cip.handshake.trust_views", "the full CIP handshake; read the target's trust views",
        "its HELLO: sender_view probing (it verified us by our first HELLO: RTT "
        "authenticated our key), receiver_view unknown; its handshake STATE_UPDATEs: "
        "sender_view and ltppeerstate probing", "CIP_SPEC §6 Trust views, authenticated "
        "variant",
        pos, _trust_views,
    ))  # fmt: skip
    register(Case(
        "cip.hello.repeat", "the first HELLO, then the same payload under a new msg_id",
        "both are answered (a repeated step is answered again)",
        "CIP_SPEC §6 Timers and retries", pos, _repeat,
    ))  # fmt: skip
    register(Case(
        "cip.hello.replay_same_bytes", "the first HELLO (answered), the same bytes again, "
        "then a repeat under a new msg_id", "no answer to the replay; the repeat is "
        "answered", "CIP_SPEC §5 check 6", neg, _replay(False), vector="replay_same_bytes",
    ))  # fmt: skip
    register(Case(
        "cip.hello.replay_reformatted", "as replay_same_bytes, the replay re-encoded with "
        "whitespace", "no answer to the replay (replay is by sender and msg_id); the "
        "repeat is answered", "CIP_SPEC §5 check 6", neg, _replay(True),
        vector="replay_reformatted",
    ))  # fmt: skip
    register(Case(
        "cip.confirm.bad_challenge_response", "after the target's HELLO, a confirming "
        "HELLO (validly signed) whose challenge_response signs something else",
        "no STATE_UPDATE; the handshake fails and the target ends the session",
        "CIP_SPEC §6 Challenge response, Rules", neg,
        lambda t: _confirm_case(t, _wrong_response),
    ))  # fmt: skip
    register(Case(
        "cip.confirm.changed_nonce", "a confirming HELLO with a new session_nonce (and a "
        "challenge response valid for it)", "no STATE_UPDATE; the handshake fails and the "
        "target ends the session", "CIP_SPEC §6 (the confirming HELLO repeats nonce and "
        "challenge)", neg, lambda t: _confirm_case(t, _changed_nonce),
    ))  # fmt: skip
    register(Case(
        "cip.trust.blacklisted_hello", "a HELLO with a fingerprint mismatch (the target "
        "blacklists the key), then a valid HELLO from that key in a new session",
        "no answer to the valid HELLO (a blacklisted peer may send nothing)",
        "CIP_SPEC §5 check 7, §6 Rules, §7", neg, _hello_blacklisted,
        vector="hello_from_blacklisted",
    ))  # fmt: skip
    register(Case(
        "cip.after.wrong_fingerprint", "after the handshake, a STATE_UPDATE whose "
        "sender.fingerprint is another key's (re-signed); then a new session",
        "the key is blacklisted: no answer to its next HELLO", "CIP_SPEC §7, §9 Faults",
        neg, _after_wrong_fingerprint,
    ))  # fmt: skip
    register(Case(
        "cip.after.bad_signature", "after the handshake, a STATE_UPDATE with a flipped "
        "signature bit; then a new handshake", "the key is demoted to untrusted with a "
        "cooldown: the new handshake gets HELLO but no decision (an untrusted peer's "
        "STATE_UPDATE and INTENT are refused)", "CIP_SPEC §5 check 7, §7, §9 Faults", neg,
        _after_bad_signature,
    ))  # fmt: skip
    register(Case(
        "cip.after.flood", "after the handshake, 25 messages that are not envelopes",
        "the target ends the session (the 20th fault in a window disconnects)",
        "CIP_SPEC §9 Faults", neg, _flood,
    ))  # fmt: skip
    register(Case(
        "cip.after.decision_share_from_probing", "after the handshake (probing), a "
        "DECISION_SHARE (only a trusted peer may send one)", "refused with no observable "
        "reaction defined; the session stays open and a fresh peer is still served",
        "CIP_SPEC §5 check 7", "robustness", _decision_from_probing,
        vector="decision_share_from_probing",
    ))  # fmt: skip


_register_others()
_register_good_hellos()
_register_bad_hellos()
