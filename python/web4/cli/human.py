"""``web4 human``: a person talks to an agent node over RTT, in a terminal or through a pipe.

Theory of operation: the human has an Ed25519 identity too (``--data-dir``, created if
missing, or a temporary one). The client dials the node over RTT (encrypted, mutually
authenticated: RTT proves the human's key, so no CIP handshake is needed, HCP_SPEC §9),
then sends ``HCP_HELLO`` (name, role, consent scope, safety flags) and one HCP message per
input line, in the grammar of ``HELP``. ``--cip-handshake`` runs the CIP handshake first,
for nodes of earlier versions that admit HCP only after it. The agent is named by its
first message's ``sender.agent_id`` (with ``--cip-handshake``: by its CIP HELLO). Every
envelope carries the human-state vector the client keeps (``/state`` changes it). The
agent's messages are validated (HCP schema, signature, receiver, timestamp, replay; only
the dialled node's key is accepted) and printed readably: replies, questions, check-ins,
decisions with rationale and alternatives. Input comes from a reader thread into a
bounded queue, so a pipe, a file or a terminal all work; after each sent line the client waits up to
``--reply-wait`` seconds for the agent's answer, and at EOF or ``/quit`` it lingers
``--linger`` seconds, closes and exits 0. Every wait has a deadline; errors are one line
(``web4 human: error: ...``).
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import itertools
import shlex
import tempfile
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any

import msgspec

from web4.cip import Handshake, Role, Step
from web4.cip import messages as cm
from web4.cip.events import HandshakeEvent, PeerVerified
from web4.cip.service import drive_handshake
from web4.cip.validator import cip_validator
from web4.cli import args as cli_args
from web4.cli.args import words as _words
from web4.cli.prompt import HISTORY_FILE_NAME, Prompt, interactive
from web4.clock import Clock, Rng, SystemClock, SystemRng
from web4.envelope import canonicalize
from web4.envelope.replay import ReplayCache
from web4.envelope.validate import Receiver, Validator, parse_envelope
from web4.errors import (
    ConfigError,
    DecisionError,
    IdentityError,
    MessageBuildError,
    RemoteError,
    RTTHandshakeError,
    RTTTransportError,
    TrustViolationError,
    Web4Error,
)
from web4.hcp import HCP_SPEC, HumanIdentity, HumanState, build_hcp
from web4.hcp.builder import NOT_AUTHORIZED, PACING, agent_kind_of, refusal_of
from web4.hcp.gate import check_decision
from web4.hcp.messages import (
    AFFECTS,
    CONSENTS,
    PRESENCES,
    HcpContext,
    HcpDecision,
    HcpFeedback,
    HcpHello,
    HcpIntent,
    HcpStateUpdate,
    Payload,
)
from web4.identity import KEY_FILE_NAME, Identity
from web4.node.link import LinkSession, LinkTransport
from web4.node.lock import DataDirLock
from web4.observability.escape import printable

__all__ = ["DEMO_ARGS", "DEMO_LINES", "HELP", "add_parser", "parse_line", "run_human"]

HELP = """commands (plain text is sent as context):
  /intent GOAL TOPIC [low|normal|high]   GOAL: align request clarify decide resolve_conflict
  /context TEXT                          context for the agent
  /state k=v ...                         presence affect clarity pressure consent
  /feedback [0-100] TEXT [| fix1, fix2]  feedback, satisfaction, corrections
  /decision CHOICE | RATIONALE | ALT1, ALT2   a decision of yours (rationale and alternatives)
  /help  /quit"""
GOALS = ("align", "request", "clarify", "decide", "resolve_conflict")
# The scripted human of ``web4 demo``: limited consent refuses an out-of-scope intent,
# tense affect makes the agent check in first, then a decision with its reasons.
DEMO_LINES = ("/intent decide personal/finance", "/state affect=tense",
              "/intent decide work/release-plan", "Yes, go ahead: keep it small.")  # fmt: skip
DEMO_ARGS = ("--name", "Dana", "--consent-scope", "topic:work", "--reply-wait", "1.5",
             "--linger", "0.5")  # fmt: skip


def _pct(key: str, value: str) -> int:
    if not value.isdigit() or int(value) > 100:
        raise ConfigError(f"{key} must be an integer 0..100, got {value!r}")
    return int(value)


def parse_line(line: str, state: HumanState) -> tuple[str, Payload | None, HumanState]:
    """One input line -> (``send``/``help``/``quit``/``skip``, payload, new state).
    Pure. Raises ``ConfigError`` (one line, shown to the user) for a malformed command."""
    text = line.strip()
    if not text:
        return "skip", None, state
    if not text.startswith("/"):
        return "send", HcpContext(context=text[:4096], constraints=[], shared_history=[]), state
    cmd, _, rest = text.partition(" ")
    rest = rest.strip()
    if cmd in ("/quit", "/exit"):
        return "quit", None, state
    if cmd == "/help":
        return "help", None, state
    if cmd == "/intent":
        parts = rest.split()
        prio = (
            parts.pop() if len(parts) > 2 and parts[-1] in ("low", "normal", "high") else "normal"
        )
        if len(parts) < 2 or parts[0] not in GOALS:
            raise ConfigError(
                f"usage: /intent GOAL TOPIC [low|normal|high]; GOAL is {_words(GOALS)}, "
                "e.g. /intent decide work/release-plan"
            )
        topic = " ".join(parts[1:])[:256]
        return "send", HcpIntent(parts[0], topic, prio), state  # type: ignore[arg-type]
    if cmd == "/context":
        if not rest:
            raise ConfigError("usage: /context TEXT")
        return "send", HcpContext(context=rest[:4096], constraints=[], shared_history=[]), state
    if cmd == "/state":
        fields = msgspec.structs.asdict(state)
        for item in rest.split():
            key, eq, value = item.partition("=")
            allowed = {"presence": PRESENCES, "affect": AFFECTS, "consent": CONSENTS}
            if not eq or key not in (*allowed, "clarity", "pressure"):
                raise ConfigError(f"/state: {item!r} is not key=value with a known key")
            if key in allowed and value not in allowed[key]:
                raise ConfigError(f"/state: {key} must be {_words(allowed[key])}")
            fields[key] = _pct(key, value) if key in ("clarity", "pressure") else value
        new = HumanState(**fields)
        update = HcpStateUpdate(new.presence, new.affect, new.clarity, new.pressure, new.consent)
        return "send", update, new
    if cmd == "/feedback":
        head, _, fixes = rest.partition("|")
        words = head.split()
        satisfaction = _pct("satisfaction", words.pop(0)) if words and words[0].isdigit() else 70
        corrections = [f.strip() for f in fixes.split(",") if f.strip()]
        return "send", HcpFeedback(" ".join(words)[:4096], corrections, satisfaction), state
    if cmd == "/decision":
        parts = [p.strip() for p in rest.split("|")]
        if len(parts) != 3:
            raise ConfigError("usage: /decision CHOICE | RATIONALE | ALT1, ALT2")
        d = check_decision(parts[0], parts[1], [a.strip() for a in parts[2].split(",")])
        return "send", HcpDecision(d.decision, d.rationale, d.alternatives, ""), state
    raise ConfigError(f"unknown command {cmd!r} (try /help)")


async def cip_handshake(
    session: LinkSession, identity: Identity, clock: Clock, rng: Rng, timeout: float
) -> str:
    """The CIP handshake as initiator over ``session`` (HCP_SPEC §9: how a human client
    authenticates). Returns the agent's name (its HELLO's ``agent_id``, unescaped). Raises
    ``RTTHandshakeError`` (refused, or not done in ``timeout``)."""
    peer = session.peer
    hs = Handshake(
        identity, Role.INITIATOR, rng=rng, peer=Receiver(peer[:16], peer),
        validator=cip_validator(identity.fingerprint, clock=clock,
                                trust_of=lambda fp: "probing" if fp == peer else "untrusted"),
        local_state=cm.SenderState(presence="engaged", lri=0, intent="hcp session"),
        intent=cm.Intent(goal="ask", topic="hcp session"),
    )  # fmt: skip
    names: list[str] = []

    def on_events(events: list[HandshakeEvent]) -> None:
        names.extend(e.agent_id for e in events if isinstance(e, PeerVerified) and e.agent_id)

    # the node's own handshake loop (web4.cip.service); other channels are not ours yet
    cut = await drive_handshake(
        hs, session, now=clock.now, send_timeout=timeout, on_events=on_events, timeout=timeout
    )
    if cut is not None:
        raise RTTHandshakeError(f"no CIP handshake with the agent in {timeout}s")
    if hs.step is Step.FAILED:
        raise RTTHandshakeError("the agent refused the CIP handshake")
    return names[-1] if names else "agent"


def show(payload: Payload, out: Callable[[str], None], agent: str = "agent") -> None:
    """Print one agent message readably, the agent by ``agent`` (its name; ``out``
    escapes it with the rest). A refusal shows its reason: ``alice refused (scope): ...``;
    a deferral ``alice defers (pacing): ...`` (HCP_SPEC §9.2)."""
    kind = agent_kind_of(payload)
    reason = refusal_of(payload)
    if reason is not None:
        verb = "defers" if reason == PACING else "refused"
        out(f"{agent} {verb} ({reason}): {payload.context}")  # type: ignore[union-attr]
    elif isinstance(payload, HcpDecision):
        out(f"{agent} decision: {payload.decision}")
        out(f"  rationale:    {payload.rationale}")
        out(f"  alternatives: {' | '.join(payload.alternatives)}")
        if payload.follow_up:
            out(f"  follow-up:    {payload.follow_up}")
    elif isinstance(payload, HcpContext):
        label = {"reply": "", "question": " asks", "check_in": " check-in"}
        out(f"{agent}{label.get(kind or '', ' context')}: {payload.context}")
    else:
        out(f"{agent} {type(payload).__name__}: {msgspec.to_builtins(payload)}")


class _Client:
    def __init__(self, args: argparse.Namespace, identity: Identity, out: IO[str]) -> None:
        self.args, self.identity, self._out = args, identity, out
        self.clock: Clock = SystemClock()
        self.rng: Rng = SystemRng()
        consent = args.consent or ("limited" if args.consent_scope else "granted")
        self.state = HumanState("engaged", "calm", 70, 30, "", consent)  # type: ignore[arg-type]
        self.replies = 0
        self.got_reply = asyncio.Event()
        self.refused: str | None = None  # the agent refused this key (the reason)
        self.agent = "agent"  # the agent's name: its first message's sender (or CIP HELLO)
        self.announced = False  # the "connected to ..." line was printed
        self.held: list[str] = []  # our echo lines until then (they follow it)
        self.prompt: Prompt | None = None  # set when the human types at a terminal

    def say(self, line: str) -> None:
        # the agent's words are a peer's input: no control character reaches the terminal
        text = "\n".join(printable(part) for part in line.split("\n"))
        if self.prompt is not None:
            self.prompt.print_above(text)
            return
        self._out.write(text + "\n")
        self._out.flush()

    def transport(self) -> LinkTransport:
        from web4.node.rtt_link import RttLink

        return RttLink(self.identity)

    async def handshake(self, session: LinkSession) -> None:
        self.agent = await cip_handshake(
            session, self.identity, self.clock, self.rng, self.args.timeout
        )

    def announce(self, session: LinkSession) -> None:
        """The "connected" line, once, before the agent's first message is shown."""
        if not self.announced:
            self.announced = True
            self.say(f"connected to {self.agent} ({session.peer[:16]}…) as {self.args.name} "
                     f"(consent {self.state.consent}); /help for commands")  # fmt: skip
            for line in self.held:
                self.say(line)
            self.held.clear()

    async def send(self, session: LinkSession, payload: Payload) -> None:
        """Raises ``ConfigError`` for a payload the HCP schema refuses (nothing is sent)."""
        try:
            msgspec.convert(msgspec.to_builtins(payload), type(payload))
        except msgspec.ValidationError as e:
            raise ConfigError(f"{type(payload).__name__}: {e}") from None
        env = build_hcp(
            self.identity, receiver_id=session.peer[:16], receiver_fingerprint=session.peer,
            payload=payload, human=self.state, clock=self.clock, rng=self.rng,
            sender_view="probing", capabilities=("hcp/1.0",),
        )  # fmt: skip
        self.got_reply.clear()
        await session.send("control", canonicalize(env), timeout=self.args.timeout)
        if self.announced:
            self.say(f"you -> {env['type']}")
        else:  # the HELLO before the agent named itself: shown after "connected"
            self.held.append(f"you -> {env['type']}")

    async def receive(self, session: LinkSession, stop: asyncio.Event) -> None:
        peer = session.peer
        validator: Validator[Any] = Validator(
            HCP_SPEC, our_fingerprint=self.identity.fingerprint, clock=self.clock,
            replay=ReplayCache(),
            trust_gate=lambda fp, _t: None if fp == peer else "not the dialled agent",
        )  # fmt: skip
        while not stop.is_set():
            item = await session.receive(timeout=0.25)
            if item is None:
                continue
            try:
                received = parse_envelope(item[1], HCP_SPEC.limits)  # parsed once
                if not isinstance(received.value, dict) or "hcp" not in received.value:
                    continue  # the agent's CIP state and knowledge traffic: not for a human
                env = validator.validate(received, now=self.clock.now())
            except RemoteError as e:
                self.say(f"(dropped a bad message from the agent: {type(e).__name__}: {e})")
                continue
            if not self.announced and not self.args.cip_handshake:
                self.agent = env.sender.agent_id  # escaped by ``say``
            self.announce(session)
            show(env.payload, self.say, self.agent)
            reason = refusal_of(env.payload)
            if reason == NOT_AUTHORIZED:  # this key: nothing it sends will be acted on
                self.refused = self.refused or NOT_AUTHORIZED
            self.replies += 1
            if reason != PACING:  # a deferral is not the answer: keep waiting for it
                self.got_reply.set()

    async def wait_reply(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self.got_reply.wait()
            await asyncio.sleep(0.2)  # a check-in may come with a second message

    async def run(self, lines: asyncio.Queue[str | None]) -> int:
        transport = self.transport()
        try:
            session = await transport.connect(self.args.peer, timeout=self.args.timeout)
            if self.args.cip_handshake:  # a node of an earlier version needs it
                await self.handshake(session)
                self.announce(session)
            stop = asyncio.Event()
            async with asyncio.TaskGroup() as tg:
                reader = tg.create_task(self.receive(session, stop))
                scope = [s for s in (self.args.consent_scope or "").split(",") if s]
                flags = [f for f in (self.args.flags or "").split(",") if f]
                hello = HcpHello(HumanIdentity(self.args.name, self.args.role), scope, flags)  # type: ignore[arg-type]
                await self.send(session, hello)
                await self.wait_reply(self.args.reply_wait)
                self.announce(session)  # the agent said nothing yet: name it by its key
                if self.refused is None:  # a refused key's lines would all be refused too
                    await self._input(session, lines)
                    await self.wait_reply(self.args.linger)
                stop.set()
                await reader
            async with asyncio.timeout(5.0):
                await session.close()
        except* TimeoutError:
            raise RTTTransportError("the agent did not take a message in time") from None
        except* Web4Error as group:  # one line for the user, never a traceback
            raise group.exceptions[0] from None
        finally:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(5.0):
                    await transport.shutdown()
        self.say(f"session closed ({self.replies} agent message(s))")
        if self.refused is not None:
            fp = self.identity.fingerprint
            temp = "" if self.args.data_dir else " (a temporary key: use --data-dir to keep one)"
            raise TrustViolationError(
                f"the agent refused this key ({self.refused}){temp}; its operator must run "
                f"`web4 human-key add {fp} --data-dir <the agent's data dir>`"
            )
        return 0

    async def _still_there(self, session: LinkSession) -> None:
        """At the end of input the agent must still be reachable, so that what was sent
        was delivered: a dropped link gets ``--timeout`` seconds to resume. Raises
        ``RTTTransportError`` when the agent went away."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.args.timeout
        while not session.connected:
            if session.closed or loop.time() >= deadline:
                raise RTTTransportError("the agent went away (the session did not resume)")
            await asyncio.sleep(0.1)

    async def _input(self, session: LinkSession, lines: asyncio.Queue[str | None]) -> None:
        while self.refused is None:
            line: str | None = ""
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.5):
                    line = await lines.get()
            if session.closed:
                raise RTTTransportError("the agent closed the session")
            if line is None:
                await self._still_there(session)
                return
            try:
                what, payload, state = parse_line(line, self.state)
                if what == "quit":
                    return
                if what == "help":
                    self.say(HELP)
                if payload is not None:
                    previous, self.state = self.state, state
                    try:
                        await self.send(session, payload)
                    except (ConfigError, MessageBuildError):
                        self.state = previous
                        raise
                    if state.consent != previous.consent:
                        self.say(f"(consent {previous.consent} -> {state.consent}"
                                 + ("; the agent may not act at all)" if state.consent == "revoked"
                                    else ")"))  # fmt: skip
                    await self.wait_reply(self.args.reply_wait)
            except (ConfigError, DecisionError, MessageBuildError) as e:
                self.say(f"error: {e}")


def _reader(
    stream: Iterable[str | None], q: asyncio.Queue[str | None], loop: asyncio.AbstractEventLoop
) -> None:
    """Thread: lines into the bounded queue (blocking while it is full), ``None`` at EOF;
    ends quietly once the client's loop is gone."""
    with contextlib.suppress(RuntimeError, OSError, ValueError):
        for line in itertools.chain(stream, [None]):
            if loop.is_closed():
                return
            fut = asyncio.run_coroutine_threadsafe(q.put(line), loop)
            try:
                fut.result()
            except (RuntimeError, asyncio.CancelledError, concurrent.futures.CancelledError):
                fut.cancel()
                return


def _identity(data_dir: Path, name: str) -> tuple[Identity, bool]:
    """The human's identity in ``data_dir`` and whether it was just created."""
    try:
        exists = (data_dir / KEY_FILE_NAME).is_file()
    except OSError as e:  # e.g. another user's directory: one line, not a traceback
        raise IdentityError(f"cannot read {data_dir}: {e.strerror}") from None
    if exists:
        return Identity.in_data_dir(data_dir), False
    return Identity.create_in_data_dir(data_dir, name.lower().replace(" ", "-")), True


def print_key(args: argparse.Namespace, stdout: IO[str]) -> int:
    """``--print-key``: create the human's key if needed and print what the agent's
    operator needs to authorise it. Raises ``ConfigError``, ``IdentityError``."""
    if not args.data_dir:
        raise cli_args.UsageError(
            "--print-key needs --data-dir (a temporary key cannot be authorised), e.g. "
            "web4 human --data-dir ~/.web4/me --print-key"
        )
    data_dir = Path(args.data_dir).expanduser()
    identity, created = _identity(data_dir, args.name)
    fp = identity.fingerprint
    name = f" --name {shlex.quote(args.name)}" if args.name != "human" else ""
    state = "created" if created else "existing"
    stdout.write(
        f"human key:   {data_dir / KEY_FILE_NAME} ({state})\n"
        f"fingerprint: {fp}\n"
        f"an agent acts on your HCP messages once its operator has run:\n"
        f"  web4 human-key add {fp}{name} --data-dir <the agent's data dir>\n"
    )
    return 0


def run_human(args: argparse.Namespace, stdin: IO[str], stdout: IO[str]) -> int:
    """Run a session (or ``--print-key``). Raises ``ConfigError``, ``IdentityError``,
    ``DataDirBusyError`` (a node or another session runs on ``--data-dir``), ``RTTError``s,
    ``TrustViolationError`` (the agent refused this key)."""
    if args.print_key:
        return print_key(args, stdout)
    if not args.peer:
        raise cli_args.UsageError(
            "--peer MULTIADDR is required (or --print-key), e.g. --peer "
            "/ip4/127.0.0.1/tcp/7001/p2p/12D3KooW... (what the agent's node prints after "
            "`listening on`)"
        )
    with tempfile.TemporaryDirectory(prefix="web4-human-") as tmp:
        data_dir = Path(args.data_dir).expanduser() if args.data_dir else Path(tmp) / "human"
        identity, _ = _identity(data_dir, args.name)

        async def main() -> int:
            q: asyncio.Queue[str | None] = asyncio.Queue(64)
            loop = asyncio.get_running_loop()
            client = _Client(args, identity, stdout)
            if interactive(stdin, stdout):  # a person at a terminal: line editing, history
                history = data_dir / HISTORY_FILE_NAME if args.data_dir else None
                client.prompt = Prompt(stdout, history=history)
                lines: Iterable[str | None] = iter(client.prompt.read, None)
            else:
                lines = stdin
            threading.Thread(target=_reader, args=(lines, q, loop), daemon=True).start()
            try:
                return await client.run(q)
            finally:
                if client.prompt is not None:
                    client.prompt.close()

        with DataDirLock(data_dir, "human"):  # a node's identity is not used beside it
            return asyncio.run(main())


def add_parser(sub: Any) -> None:
    import sys

    p = sub.add_parser(
        "human", help="talk to an agent node as a human (HCP over RTT)",
        description="Open an HCP session with the agent at MULTIADDR and send one message per "
        "input line (works with piped input).\n\n" + HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Example: web4 human --data-dir ~/.web4/me --print-key  (your fingerprint: the "
        "agent's operator authorises it with `web4 human-key add`), then\n"
        "         web4 human --data-dir ~/.web4/me --peer /ip4/127.0.0.1/tcp/7001/p2p/12D3KooW... "
        "--consent-scope topic:work\n(the agent's full address is what its node prints after "
        "`listening on`, or what `web4 status` shows for it)",
    )  # fmt: skip
    p.add_argument(
        "--peer",
        type=cli_args.peer_addr,
        metavar="MULTIADDR",
        help="the agent node: /ip4/A/tcp/P/p2p/PEER_ID (required unless --print-key)",
    )
    p.add_argument("--data-dir", help="the human's identity (created if missing; default: temp)")
    p.add_argument(
        "--print-key",
        action="store_true",
        help="create the identity in --data-dir if missing, print its fingerprint for the "
        "agent's operator (`web4 human-key add`), and exit",
    )
    p.add_argument(
        "--cip-handshake",
        action="store_true",
        help="run the CIP handshake before HCP (agent nodes of versions before 2026-12 "
        "need it; current ones take HCP_HELLO directly)",
    )
    p.add_argument("--name", default="human", help="your name, sent in HCP_HELLO")
    p.add_argument("--role", default="user", help="your role, sent in HCP_HELLO")
    p.add_argument(
        "--consent-scope",
        type=cli_args.consent_scope,
        metavar="topic:A,topic:B",
        help="limited-consent scope, e.g. topic:work,topic:family/school",
    )
    p.add_argument(
        "--consent", choices=CONSENTS, help="default: limited with a scope, else granted"
    )
    p.add_argument(
        "--flags",
        type=cli_args.safety_flags,
        metavar="slow_pacing,avoid_conflict",
        help="safety flags",
    )
    seconds = cli_args.positive_float
    p.add_argument("--timeout", type=seconds, default=10.0, help="connect/handshake/send deadline")
    p.add_argument("--reply-wait", type=seconds, default=2.0, help="seconds to wait for an answer")
    p.add_argument("--linger", type=seconds, default=1.0, help="seconds to wait at the end")
    p.set_defaults(func=lambda a: run_human(a, sys.stdin, sys.stdout))
