"""The CIP handshake's steps as one transition table (h11 ``_state.py`` style).

Theory of operation: a handshake is one of two roles. The initiator (A) opens with a
HELLO; the responder (B) answers. Each side is in one ``Step``; every input the
handshake can see (a classified inbound message, a local start, a timer) is an
``Input``. ``HANDSHAKE_TABLES[role]`` is that role's ``web4.fsm.TransitionTable`` (the
mechanism the TrustFSM, HCP social trust and LIP claims share), one unguarded ``Rule``
per (step, input); ``TRANSITIONS[(role, step, input)]`` is the same rows flattened. An
input missing from the table for the current step is not allowed there: an inbound
message of that kind is dropped without changing anything. Failure inputs (bad
signature, fingerprint mismatch, timeout, protocol error) lead from every waiting step to
``FAILED``; ``RETRY`` (a timer fired with retries left) leaves the step unchanged.
``ACCEPTED``, ``DEFERRED`` and ``FAILED`` are terminal. ``transition_table_markdown``
renders the table for ``docs/CIP_SPEC.md``.

    A: START -start-> WAIT_HELLO -hello_response-> WAIT_STATE -state_update-> WAIT_DECISION
       WAIT_STATE -peer_overloaded-> DEFERRED; WAIT_DECISION -decision_accept-> ACCEPTED
       WAIT_DECISION -decision_defer-> DEFERRED
    B: WAIT_HELLO -hello-> WAIT_CONFIRM -hello_response-> WAIT_STATE -state_update-> WAIT_INTENT
       WAIT_INTENT -intent-> ACCEPTED; WAIT_INTENT -intent_overloaded-> DEFERRED
       WAIT_INTENT -decision_defer-> DEFERRED (A saw B overloaded and deferred)

The authenticated variant (the transport already proved the peer holds the key its HELLO
names, e.g. RTT's Noise XX; ``Handshake(transport_key=...)``) adds the original two-HELLO
handshake, where no message carries the initiator's proof:

    B: WAIT_HELLO -hello_authenticated-> WAIT_STATE (peer verified on its first HELLO)
       WAIT_STATE -hello_confirm-> WAIT_STATE (an optional confirming HELLO, checked)
    A: WAIT_HELLO -hello_authenticated-> WAIT_PEER_STATE (an original responder: STATE_UPDATE
       and INTENT sent at once, no confirming HELLO)
       WAIT_PEER_STATE -state_update-> ACCEPTED; -peer_overloaded-> DEFERRED
       (the original has no decision message; an accept:/defer: naming our INTENT counts too)

Without a transport key the handshake never produces ``hello_authenticated`` or
``hello_confirm``, so these rows cannot fire.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from web4.fsm import Rule, TransitionTable

__all__ = [
    "EXPECTED_TYPE",
    "HANDSHAKE_TABLES",
    "TERMINAL",
    "TRANSITIONS",
    "Input",
    "Role",
    "Step",
    "next_step",
    "transition_table_markdown",
]


class Role(StrEnum):
    INITIATOR = "initiator"
    RESPONDER = "responder"


class Step(StrEnum):
    START = "START"
    WAIT_HELLO = "WAIT_HELLO"
    WAIT_CONFIRM = "WAIT_CONFIRM"
    WAIT_STATE = "WAIT_STATE"
    WAIT_INTENT = "WAIT_INTENT"
    WAIT_DECISION = "WAIT_DECISION"
    WAIT_PEER_STATE = "WAIT_PEER_STATE"  # authenticated variant, original responder
    ACCEPTED = "ACCEPTED"
    DEFERRED = "DEFERRED"
    FAILED = "FAILED"


class Input(StrEnum):
    START = "start"  # local: the initiator opens
    HELLO = "hello"  # a HELLO without challenge_response
    HELLO_RESPONSE = "hello_response"  # a HELLO whose challenge_response verifies
    # authenticated variant only (the transport proved the key the HELLO names):
    HELLO_AUTHENTICATED = "hello_authenticated"  # a HELLO without our proof: the
    # original's first HELLO (responder) or answering HELLO (initiator)
    HELLO_CONFIRM = "hello_confirm"  # a confirming HELLO the responder no longer needs
    STATE_UPDATE = "state_update"  # a STATE_UPDATE, peer not overloaded
    PEER_OVERLOADED = "peer_overloaded"  # a STATE_UPDATE with presence overloaded
    INTENT = "intent"  # an INTENT from a peer that is not overloaded
    INTENT_OVERLOADED = "intent_overloaded"  # an INTENT from an overloaded peer
    DECISION_ACCEPT = "decision_accept"  # a STATE_UPDATE with intent accept:<msg_id>
    DECISION_DEFER = "decision_defer"  # a STATE_UPDATE with intent defer:<msg_id>
    RETRY = "retry"  # timer fired, retries left: retransmit
    TIMEOUT = "timeout"  # timer fired, no retries left
    BAD_SIGNATURE = "bad_signature"  # envelope signature or challenge response invalid
    FINGERPRINT_MISMATCH = "fingerprint_mismatch"  # sender.fingerprint != pubkey's
    PROTOCOL_ERROR = "protocol_error"  # the peer broke a handshake rule (signed, so no
    # trust event): no common protocol, or a changed nonce/challenge


TERMINAL = frozenset({Step.ACCEPTED, Step.DEFERRED, Step.FAILED})

_I, _R = Role.INITIATOR, Role.RESPONDER
_Rule = Rule[Step, Input, None]

# The progress rows: (role, from, input) -> (to, note). No guards and no context: the
# handshake classifies an inbound message into an ``Input`` before it looks anything up.
_PROGRESS: dict[tuple[Role, Step, Input], tuple[Step, str]] = {
    (_I, Step.START, Input.START): (Step.WAIT_HELLO, "open: send HELLO"),
    (_I, Step.WAIT_HELLO, Input.HELLO_RESPONSE): (
        Step.WAIT_STATE,
        "peer verified: answer its challenge, send STATE_UPDATE",
    ),
    (_I, Step.WAIT_STATE, Input.STATE_UPDATE): (Step.WAIT_DECISION, "send the INTENT"),
    (_I, Step.WAIT_STATE, Input.PEER_OVERLOADED): (Step.DEFERRED, "peer overloaded: defer"),
    (_I, Step.WAIT_DECISION, Input.STATE_UPDATE): (Step.WAIT_DECISION, "state noted"),
    (_I, Step.WAIT_DECISION, Input.PEER_OVERLOADED): (Step.WAIT_DECISION, "state noted"),
    (_I, Step.WAIT_DECISION, Input.DECISION_ACCEPT): (Step.ACCEPTED, "intent accepted"),
    (_I, Step.WAIT_DECISION, Input.DECISION_DEFER): (Step.DEFERRED, "intent deferred"),
    (_I, Step.WAIT_HELLO, Input.HELLO_AUTHENTICATED): (
        Step.WAIT_PEER_STATE,
        "original responder, key proven by the transport: send STATE_UPDATE and INTENT",
    ),
    (_I, Step.WAIT_PEER_STATE, Input.STATE_UPDATE): (
        Step.ACCEPTED,
        "the original has no decision message: the peer's state ends the handshake",
    ),
    (_I, Step.WAIT_PEER_STATE, Input.PEER_OVERLOADED): (Step.DEFERRED, "peer overloaded: defer"),
    (_I, Step.WAIT_PEER_STATE, Input.DECISION_ACCEPT): (Step.ACCEPTED, "intent accepted"),
    (_I, Step.WAIT_PEER_STATE, Input.DECISION_DEFER): (Step.DEFERRED, "intent deferred"),
    (_R, Step.WAIT_HELLO, Input.HELLO): (
        Step.WAIT_CONFIRM,
        "answer with HELLO and a challenge response",
    ),
    (_R, Step.WAIT_HELLO, Input.HELLO_AUTHENTICATED): (
        Step.WAIT_STATE,
        "key proven by the transport: peer verified; answer with HELLO and a challenge response",
    ),
    (_R, Step.WAIT_STATE, Input.HELLO_CONFIRM): (
        Step.WAIT_STATE,
        "optional confirming HELLO checked: send STATE_UPDATE",
    ),
    (_R, Step.WAIT_CONFIRM, Input.HELLO_RESPONSE): (
        Step.WAIT_STATE,
        "peer verified: send STATE_UPDATE",
    ),
    (_R, Step.WAIT_STATE, Input.STATE_UPDATE): (Step.WAIT_INTENT, "wait for the INTENT"),
    (_R, Step.WAIT_STATE, Input.PEER_OVERLOADED): (Step.WAIT_INTENT, "wait for the INTENT"),
    (_R, Step.WAIT_INTENT, Input.STATE_UPDATE): (Step.WAIT_INTENT, "state noted"),
    (_R, Step.WAIT_INTENT, Input.PEER_OVERLOADED): (Step.WAIT_INTENT, "state noted"),
    (_R, Step.WAIT_INTENT, Input.INTENT): (Step.ACCEPTED, "intent accepted"),
    (_R, Step.WAIT_INTENT, Input.INTENT_OVERLOADED): (
        Step.DEFERRED,
        "peer overloaded: intent deferred",
    ),
    (_R, Step.WAIT_INTENT, Input.DECISION_DEFER): (
        Step.DEFERRED,
        "the initiator saw us overloaded and deferred",
    ),
}

_WAITING: dict[Role, tuple[Step, ...]] = {
    _I: (Step.WAIT_HELLO, Step.WAIT_STATE, Step.WAIT_DECISION, Step.WAIT_PEER_STATE),
    _R: (Step.WAIT_HELLO, Step.WAIT_CONFIRM, Step.WAIT_STATE, Step.WAIT_INTENT),
}


_FAILURES = (
    Input.TIMEOUT,
    Input.BAD_SIGNATURE,
    Input.FINGERPRINT_MISMATCH,
    Input.PROTOCOL_ERROR,
)


def _rules(role: Role) -> list[_Rule]:
    rules = [
        _Rule(step, event, dst, note)
        for (r, step, event), (dst, note) in _PROGRESS.items()
        if r is role
    ]
    for step in _WAITING[role]:
        timer = (role, step) != (_R, Step.WAIT_HELLO)  # no timer before a peer appears
        if timer:
            rules.append(_Rule(step, Input.RETRY, step, "timer fired, retries left: resend"))
        for failure in _FAILURES:
            if failure is not Input.TIMEOUT or timer:
                rules.append(_Rule(step, failure, Step.FAILED, f"{failure.value}: failed"))
    return rules


# One table per role on the shared mechanism (``web4.fsm``); it rejects a duplicate row.
HANDSHAKE_TABLES: Mapping[Role, TransitionTable[Step, Input, None]] = {
    role: TransitionTable(f"cip-handshake-{role.value}", list(Step), list(Input), _rules(role))
    for role in Role
}

# The same rows as a flat lookup, (role, from, input) -> to.
TRANSITIONS: Mapping[tuple[Role, Step, Input], Step] = {
    (role, rule.src, rule.event): rule.dst
    for role, table in HANDSHAKE_TABLES.items()
    for rule in table.rules
}

# The message type each waiting step expects from the peer (others are dropped).
EXPECTED_TYPE: Mapping[tuple[Role, Step], frozenset[str]] = {
    (_I, Step.WAIT_HELLO): frozenset({"HELLO"}),
    (_I, Step.WAIT_STATE): frozenset({"STATE_UPDATE"}),
    (_I, Step.WAIT_DECISION): frozenset({"STATE_UPDATE"}),
    (_I, Step.WAIT_PEER_STATE): frozenset({"STATE_UPDATE"}),
    (_R, Step.WAIT_HELLO): frozenset({"HELLO"}),
    (_R, Step.WAIT_CONFIRM): frozenset({"HELLO"}),
    (_R, Step.WAIT_STATE): frozenset({"STATE_UPDATE", "HELLO"}),  # HELLO: hello_confirm
    (_R, Step.WAIT_INTENT): frozenset({"STATE_UPDATE", "INTENT"}),
}


def next_step(role: Role, step: Step, event: Input) -> Step | None:
    """The step after ``event``, or ``None`` if ``event`` is not allowed in ``step``."""
    result = HANDSHAKE_TABLES[role].step(step, event, None)
    return None if result.rule is None else result.dst


def transition_table_markdown() -> str:
    """The table as a Markdown table (role, from, input, to), in a stable order."""
    order = {s: i for i, s in enumerate(Step)}
    rows = sorted(
        TRANSITIONS.items(),
        key=lambda kv: (kv[0][0] != _I, order[kv[0][1]], list(Input).index(kv[0][2])),
    )
    lines = ["| role | from | input | to |", "|---|---|---|---|"]
    lines += [f"| {r} | {s} | {i} | {t} |" for (r, s, i), t in rows]
    return "\n".join(lines) + "\n"
