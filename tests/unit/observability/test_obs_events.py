"""The v1.0 event contract: registry, checks, round trip, and the published schema."""

from __future__ import annotations

import json
import math
from pathlib import Path

import jsonschema
import pytest

from web4.clock import FakeClock
from web4.errors import ObservabilityError
from web4.observability import (
    KINDS,
    EventBus,
    MemoryRing,
    decode_event,
    encode_event,
    event_json_schema,
    make_event,
    register_kind,
)
from web4.observability.events import event_schema_text, flatten, kinds_markdown

ROOT = Path(__file__).parents[3]
SCHEMA_FILE = ROOT / "docs" / "schemas" / "events.schema.json"
EVENTS_DOC = ROOT / "docs" / "EVENTS.md"
T = "2026-11-26T09:27:34.120Z"


def _full_attrs(kind: str) -> dict[str, object]:
    return {name: f"v-{name}" for name in KINDS[kind].required}


def test_schema_file_is_generated_from_the_struct():
    assert SCHEMA_FILE.read_text(encoding="utf-8") == event_schema_text(), (
        "stale: run `python -m web4.observability schema > docs/schemas/events.schema.json`"
    )


def test_events_doc_lists_every_kind():
    doc = EVENTS_DOC.read_text(encoding="utf-8")
    assert kinds_markdown() in doc, "stale: paste `python -m web4.observability kinds`"


def test_every_registered_kind_validates_against_the_schema():
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA_FILE.read_text()))
    bus = EventBus("node-a", clock=FakeClock())
    ring = bus.add_sink(MemoryRing(1000))
    assert isinstance(ring, MemoryRing)
    for kind in KINDS:
        bus.emit(kind, peer="ab" * 32, msg_id="m-1", attributes=_full_attrs(kind), n=1, x=[1, 2.5])
    events = ring.events()
    assert {e.kind for e in events} == set(KINDS)
    for event in events:
        doc = json.loads(encode_event(event))
        validator.validate(doc)
        assert set(doc) == {
            "version",
            "time",
            "node",
            "kind",
            "level",
            "peer",
            "msg_id",
            "attributes",
        }
        assert decode_event(encode_event(event)) == event


def test_schema_rejects_what_the_contract_forbids():
    validator = jsonschema.Draft202012Validator(event_json_schema())
    good = json.loads(
        encode_event(make_event("error", time=T, node="n", attributes={"error": "X"}))
    )
    validator.validate(good)
    for mutation in (
        {"version": "2.0"},
        {"kind": "bogus.thing"},
        {"kind": "Router.routed"},
        {"level": "fatal"},
        {"time": "yesterday"},
        {"attributes": {"nested": {"a": 1}}},
        {"extra": 1},
    ):
        bad = {**good, **mutation}
        assert not validator.is_valid(bad), mutation
        with pytest.raises(ObservabilityError):
            decode_event(json.dumps(bad))
    missing = dict(good)
    del missing["peer"]
    assert not validator.is_valid(missing)


def test_make_event_checks_kind_level_and_attributes():
    with pytest.raises(ObservabilityError, match="unregistered"):
        make_event("router.nonsense", time=T, node="n")
    with pytest.raises(ObservabilityError, match="required"):
        make_event("router.routed", time=T, node="n", attributes={"protocol": "cip"})
    with pytest.raises(ObservabilityError, match="finite"):
        make_event("error", time=T, node="n", attributes={"error": "E", "x": math.nan})
    with pytest.raises(ObservabilityError, match="type dict"):
        make_event("error", time=T, node="n", attributes={"error": "E", "x": {"a": 1}})
    with pytest.raises(ObservabilityError, match="level"):
        make_event("error", time=T, node="n", level="loud", attributes={"error": "E"})  # type: ignore[arg-type]
    with pytest.raises(ObservabilityError, match="contract"):
        make_event("error", time="not-a-time", node="n", attributes={"error": "E"})
    with pytest.raises(ObservabilityError, match="contract"):
        make_event("error", time=T, node="", attributes={"error": "E"})
    e = make_event("router.throttled", time=T, node="n", attributes={"dropped": 3, "t": (1, "a")})
    assert e.level == "warning"
    assert e.attributes["t"] == [1, "a"]


def test_register_kind_naming_scheme_and_conflicts():
    with pytest.raises(ObservabilityError):
        register_kind("mesh.route", "info")  # namespace not in the scheme
    with pytest.raises(ObservabilityError):
        register_kind("cip", "info")  # needs a subject
    with pytest.raises(ObservabilityError):
        register_kind("cip.x", "loud")  # type: ignore[arg-type]
    spec = KINDS["router.routed"]
    assert register_kind(spec.kind, spec.level, spec.required, spec.description) == spec
    with pytest.raises(ObservabilityError, match="differently"):
        register_kind("router.routed", "error")


def test_flatten_and_decode_errors():
    assert flatten({"a": {"b": 1, "c": {"d": [1, 2]}}, "e": None}) == {
        "a.b": 1,
        "a.c.d": [1, 2],
        "e": None,
    }
    with pytest.raises(ObservabilityError):
        decode_event(b"{not json")
    with pytest.raises(ObservabilityError):
        decode_event(b"[]")


def test_module_main_prints_the_artefacts(capsys: pytest.CaptureFixture[str]):
    from web4.observability.__main__ import main

    assert main([]) == 0
    assert capsys.readouterr().out == event_schema_text()
    assert main(["kinds"]) == 0
    assert capsys.readouterr().out == kinds_markdown()
    assert main(["bogus"]) == 2
