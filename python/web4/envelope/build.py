"""One way to build and sign a CIP, HCP or LIP envelope, with one error type.

Theory of operation: every protocol's builder (``CipBuilder.build``, ``build_hcp``,
``build_lip``) goes through ``build``. It takes the protocol's ``ProtocolSpec`` (the same
one the validator uses), derives the message type from the payload's Struct class, fills
in the head the sender owns (``envelope_head``: version member, ``msg_id`` from the
injected ``Rng``, ``timestamp`` from the injected ``Clock``, ``sender``), adds the
caller's ``trust``, ``state`` and any extra blocks (LIP's ``source``), leaves out every
member whose value is ``None`` (never sends ``null``: the original schemas type those
members as strings and absent means "none"), signs, and decodes the signed envelope with the spec's
Structs, so no builder can emit what a peer's validator would refuse for its shape.
Anything wrong is ``MessageBuildError``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import msgspec

from web4.clock import Clock, Rng
from web4.envelope.crypto import sign_envelope
from web4.envelope.head import envelope_head, new_msg_id
from web4.envelope.validate import ProtocolSpec
from web4.errors import MessageBuildError
from web4.identity import Identity

__all__ = ["build", "msg_type_of"]


def msg_type_of(spec: ProtocolSpec[Any], payload: object) -> str:
    """The ``spec`` message type that carries ``payload``. Raises ``MessageBuildError``
    for anything that is not one of the protocol's payload Structs."""
    for name, cls in spec.payloads.items():
        if type(payload) is cls:
            return name
    raise MessageBuildError(f"{type(payload).__name__} is not a {spec.name.upper()} payload")


def build(
    spec: ProtocolSpec[Any],
    payload: msgspec.Struct,
    *,
    identity: Identity,
    receiver_id: str,
    receiver_fingerprint: str,
    trust: Mapping[str, Any] | msgspec.Struct,
    state: Mapping[str, Any] | msgspec.Struct,
    clock: Clock,
    rng: Rng,
    capabilities: Sequence[str],
    extra: Mapping[str, Any] | None = None,
    now: float | None = None,
    msg_id: str | None = None,
    topic: str | None = None,
) -> dict[str, Any]:
    """A signed ``spec`` envelope carrying ``payload`` (its type is derived from it).

    ``extra`` adds protocol blocks beside ``trust``/``state``/``payload`` (Structs are
    encoded). ``topic`` binds it to a gossip topic instead of the receiver. ``now``
    and ``msg_id`` default to the clock and a fresh UUID v4 from ``rng``.
    Raises ``MessageBuildError`` if the payload is not the protocol's or the finished
    envelope breaks its schema, and ``CanonicalizationError`` if it has no canonical form.
    """
    msg_type = msg_type_of(spec, payload)
    env = envelope_head(
        spec.name,
        msg_type,
        identity=identity,
        receiver_id=receiver_id,
        receiver_fingerprint=receiver_fingerprint,
        capabilities=capabilities,
        now=clock.now() if now is None else now,
        msg_id=new_msg_id(rng) if msg_id is None else msg_id,
        topic=topic,
    )
    env["trust"] = _no_nulls(msgspec.to_builtins(trust))
    env["state"] = _no_nulls(msgspec.to_builtins(state))
    for name, block in (extra or {}).items():
        env[name] = _no_nulls(msgspec.to_builtins(block))
    body = _no_nulls(msgspec.to_builtins(payload))
    for name, value in spec.sent_defaults.get(msg_type, {}).items():
        body.setdefault(name, value)
    env["payload"] = body
    signed = sign_envelope(env, identity)
    _check_shape(spec, signed, msg_type)
    return signed


def _no_nulls(value: Any) -> Any:
    """``value`` with every object member that is ``None`` left out, at any depth (our
    types default optional members to ``None``; e.g. ``state.intent``,
    ``STATE_UPDATE.payload.intent``, a first HELLO's ``challenge_response``). Only for
    the JSON-like output of ``msgspec.to_builtins``."""
    if isinstance(value, dict):
        return {k: _no_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_no_nulls(v) for v in value]
    return value


def _check_shape(spec: ProtocolSpec[Any], envelope: dict[str, Any], msg_type: str) -> None:
    try:
        head = msgspec.convert(envelope, spec.envelope)
        msgspec.convert(head.payload, spec.payloads[msg_type])
    except msgspec.ValidationError as e:
        raise MessageBuildError(f"{msg_type} envelope would be invalid: {e}") from e
