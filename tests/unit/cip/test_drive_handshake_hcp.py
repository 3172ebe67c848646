"""HCP without CIP at the session loop (HCP_SPEC §9): before the peer's first CIP HELLO a
responder hands HCP envelopes on ``control`` to the ``hcp`` port instead of the handshake;
once one opened an HCP session the hello bound no longer cuts the session; anything else
(not HCP, or HCP after a CIP HELLO) still goes to the handshake."""

from __future__ import annotations

import asyncio

from test_drive_handshake import Pipe, _handshake

from web4.cip import Role, Step
from web4.cip.events import HandshakeEvent, MessageDropped
from web4.cip.service import drive_handshake, is_hcp
from web4.clock import SystemClock, SystemRng
from web4.envelope import canonicalize
from web4.hcp import HumanIdentity, HumanState, build_hcp
from web4.hcp.messages import HcpHello
from web4.identity import Identity

NODE, HUMAN = Identity(b"\x03" * 32, "node"), Identity(b"\x04" * 32, "dana")
CALM = HumanState("engaged", "calm", 70, 30, "", "granted")


def hcp_hello() -> bytes:
    env = build_hcp(
        HUMAN,
        receiver_id="node",
        receiver_fingerprint=NODE.fingerprint,
        payload=HcpHello(HumanIdentity("Dana", "user"), [], []),
        human=CALM,
        clock=SystemClock(),
        rng=SystemRng(),
    )
    return canonicalize(env)


def test_is_hcp() -> None:
    assert is_hcp(hcp_hello())
    assert not is_hcp(b'{"cip":"1.0"}')
    assert not is_hcp(b"[1]")
    assert not is_hcp(b"\xff not json")
    assert not is_hcp(b"[" * 100 + b"]" * 100)  # too deep: not read, not HCP


def run(
    frames: list[tuple[str, bytes]], *, taken: bool, hello_timeout: float = 0.3
) -> tuple[str | None, list[bytes], list[HandshakeEvent], Step]:
    """A responder's loop fed ``frames``; returns (cut reason, what reached ``hcp``,
    handshake events, step). ``taken``: what the ``hcp`` port answers."""

    async def scenario() -> tuple[str | None, list[bytes], list[HandshakeEvent], Step]:
        inbox: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
        for frame in frames:
            inbox.put_nowait(frame)
        hs = _handshake(NODE, Role.RESPONDER, HUMAN, 5)
        got: list[bytes] = []
        events: list[HandshakeEvent] = []

        async def hcp(data: bytes) -> bool:
            got.append(data)
            return taken

        clock = SystemClock()
        async with asyncio.timeout(5):
            cut = await drive_handshake(
                hs, Pipe(HUMAN.fingerprint, inbox, asyncio.Queue()), now=clock.now,
                send_timeout=1.0, on_events=events.extend, hcp=hcp, tick=0.05,
                hello_timeout=hello_timeout, timeout=1.0,
            )  # fmt: skip
        return cut, got, events, hs.step

    return asyncio.run(scenario())


def test_an_hcp_session_needs_no_cip_hello_and_is_not_cut() -> None:
    hello = hcp_hello()
    cut, got, events, step = run([("control", hello)], taken=True)
    assert got == [hello]
    assert not events  # the handshake never saw it
    assert step is Step.WAIT_HELLO
    # the loop ran to its overall bound (1 s), not the hello bound (0.3 s)
    assert cut == "no CIP handshake within 1 s"


def test_hcp_that_was_not_taken_leaves_the_hello_bound() -> None:
    cut, got, _events, _step = run([("control", hcp_hello())], taken=False)
    assert len(got) == 1
    assert cut == "no CIP HELLO within 0.3 s"


def test_other_control_bytes_still_go_to_the_handshake() -> None:
    cut, got, events, _step = run([("control", b'{"cip":"1.0"}')], taken=True)
    assert got == []
    assert [type(e) for e in events] == [MessageDropped]
    assert cut == "no CIP HELLO within 0.3 s"


def test_without_an_hcp_port_hcp_goes_to_the_handshake() -> None:
    async def scenario() -> list[HandshakeEvent]:
        inbox: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
        inbox.put_nowait(("control", hcp_hello()))
        hs = _handshake(NODE, Role.RESPONDER, HUMAN, 5)
        events: list[HandshakeEvent] = []
        clock = SystemClock()
        await drive_handshake(
            hs, Pipe(HUMAN.fingerprint, inbox, asyncio.Queue()), now=clock.now,
            send_timeout=1.0, on_events=events.extend, tick=0.05, hello_timeout=0.2,
        )  # fmt: skip
        return events

    events = asyncio.run(scenario())
    assert [type(e) for e in events] == [MessageDropped]
