"""The restated original schemas (``original_schemas/``) are valid draft 2020-12 schemas,
check formats, accept the original examples and can fail: hand-made bad instances are
refused, each for its own reason."""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from compat_support import (
    ALL_TYPES,
    FORMAT_CHECKER,
    PROTOCOLS,
    SCHEMAS,
    OriginalPeer,
    example_payloads,
    original_timestamp,
    original_uuid,
    schema_errors,
)
from jsonschema import Draft202012Validator

from web4.identity import Identity

RECEIVER = ("bob", "b" * 64)


def _walk(node: Any) -> list[dict[str, Any]]:
    if isinstance(node, dict):
        return [node, *(x for v in node.values() for x in _walk(v))]
    if isinstance(node, list):
        return [x for v in node for x in _walk(v)]
    return []


def test_every_schema_is_a_valid_open_2020_12_schema() -> None:
    files = sorted(SCHEMAS.glob("*.schema.json")) + sorted(SCHEMAS.glob("payloads/*.json"))
    assert {p.name.split(".")[0] for p in files} == {*PROTOCOLS, *ALL_TYPES}
    for path in files:
        schema = json.loads(path.read_text(encoding="utf-8"))
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema", path.name
        Draft202012Validator.check_schema(schema)
        # the originals leave every object open
        assert all(n.get("additionalProperties", True) is not False for n in _walk(schema))


def test_formats_are_checked() -> None:
    # date-time is checked only with rfc3339-validator installed; without it any string
    # would pass and the timestamp cases below could not fail
    assert {"uuid", "date-time"} <= set(FORMAT_CHECKER.checkers)
    assert not FORMAT_CHECKER.conforms("2026-12-07 10:00:00", "date-time")
    assert FORMAT_CHECKER.conforms("2026-12-07T10:00:00+01:00", "date-time")
    assert not FORMAT_CHECKER.conforms("5dfadd0e50914f569636c47335ecf831", "uuid")
    assert FORMAT_CHECKER.conforms("5DFADD0E-5091-1F56-9636-C47335ECF831", "uuid")


def _examples() -> dict[str, dict[str, Any]]:
    peer = OriginalPeer(Identity.generate("alice"))
    payloads = example_payloads(
        fact_ref=original_uuid(0), earlier_msg_id=original_uuid(1), corroborator="carol"
    )
    return {t: peer.envelope(t, p, receiver=RECEIVER, now=time.time()) for t, p in payloads.items()}


EXAMPLES = _examples()


@pytest.mark.parametrize("msg_type", ALL_TYPES)
def test_original_example_validates(msg_type: str) -> None:
    assert schema_errors(EXAMPLES[msg_type]) == []


@pytest.mark.parametrize("style", range(8))
def test_every_timestamp_and_uuid_spelling_validates(style: int) -> None:
    env = copy.deepcopy(EXAMPLES["INTENT"])
    env["timestamp"] = original_timestamp(time.time(), style)
    env["msg_id"] = original_uuid(style)
    assert schema_errors(env) == []


def test_objects_are_open() -> None:
    env = copy.deepcopy(EXAMPLES["FACT_PROPOSE"])
    env["x_extension"] = {"anything": [1, None]}
    env["sender"]["x"] = 1
    env["payload"]["x"] = None
    env["payload"]["fact"]["x"] = "y"
    del env["trust"], env["state"], env["sign"]  # optional in CIP
    assert schema_errors(env) == []


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    *head, last = path.split("/")

    def edit(env: dict[str, Any]) -> None:
        node = env
        for key in head:
            node = node[key]
        if value is _DELETE:
            del node[last]
        else:
            node[last] = value

    return edit


_DELETE = object()

# (case, message type, edit, the path the error must name)
NEGATIVE: list[tuple[str, str, Callable[[dict[str, Any]], None], str]] = [
    ("msg_id not a uuid", "INTENT", _set("msg_id", "msg-1"), "/msg_id"),
    (
        "uuid without dashes",
        "INTENT",
        _set("msg_id", "5dfadd0e50914f569636c47335ecf831"),
        "/msg_id",
    ),
    ("timestamp with a space", "INTENT", _set("timestamp", "2026-12-07 10:00:00Z"), "/timestamp"),
    ("timestamp without offset", "INTENT", _set("timestamp", "2026-12-07T10:00:00"), "/timestamp"),
    ("timestamp hour 24", "INTENT", _set("timestamp", "2026-12-07T24:00:00Z"), "/timestamp"),
    ("wrong version", "INTENT", _set("cip", "2.0"), "/cip"),
    ("unknown type", "INTENT", _set("type", "GOODBYE"), "/type"),
    ("no sender fingerprint", "INTENT", _set("sender/fingerprint", _DELETE), "/sender"),
    ("no receiver", "INTENT", _set("receiver", _DELETE), ""),
    ("no payload", "INTENT", _set("payload", _DELETE), ""),
    ("lri over 100", "INTENT", _set("state/lri", 101), "/state/lri"),
    ("state.intent null", "INTENT", _set("state/intent", None), "/state/intent"),
    (
        "capabilities not strings",
        "INTENT",
        _set("sender/capabilities", [1]),
        "/sender/capabilities/0",
    ),
    ("goal not in the enum", "INTENT", _set("payload/goal", "dance"), "/payload/goal"),
    ("intent without topic", "INTENT", _set("payload/topic", _DELETE), "/payload"),
    ("fact_ref not a uuid", "FACT_CHALLENGE", _set("payload/fact_ref", "f1"), "/payload/fact_ref"),
    (
        "decision_id not a uuid",
        "FACT_PROPOSE",
        _set("payload/dmp_trace/decision_id", "d"),
        "/payload/dmp_trace/decision_id",
    ),
    ("payload intent null", "STATE_UPDATE", _set("payload/intent", None), "/payload/intent"),
    (
        "hello features not booleans",
        "HELLO",
        _set("payload/features/supports_mesh", "yes"),
        "/payload/features/supports_mesh",
    ),
    ("hcp without consent", "HCP_INTENT", _set("state/human/consent", _DELETE), "/state/human"),
    (
        "hcp clarity not an integer",
        "HCP_INTENT",
        _set("state/human/clarity", "high"),
        "/state/human/clarity",
    ),
    ("hcp without state", "HCP_CONTEXT", _set("state", _DELETE), ""),
    ("lip without source", "LIP_FETCH", _set("source", _DELETE), ""),
    (
        "lip retrieved_at not a time",
        "LIP_FETCH",
        _set("source/retrieved_at", "today"),
        "/source/retrieved_at",
    ),
    (
        "lip claims as objects",
        "LIP_EVIDENCE",
        _set("payload/claims", [{"claim_id": "c"}]),
        "/payload/claims/0",
    ),
    (
        "lip evidence as an object",
        "LIP_EVIDENCE",
        _set("payload/evidence", {"uri": "u"}),
        "/payload/evidence",
    ),
    (
        "lip severity not in the enum",
        "LIP_CONFLICT",
        _set("payload/severity", "fatal"),
        "/payload/severity",
    ),
]


@pytest.mark.parametrize(
    ("msg_type", "edit", "where"), [c[1:] for c in NEGATIVE], ids=[c[0] for c in NEGATIVE]
)
def test_bad_instance_is_refused(
    msg_type: str, edit: Callable[[dict[str, Any]], None], where: str
) -> None:
    env = copy.deepcopy(EXAMPLES[msg_type])
    edit(env)
    errors = schema_errors(env)
    assert errors, "the schemas accepted a bad instance"
    assert any(e.split(":")[0] == where for e in errors), errors
