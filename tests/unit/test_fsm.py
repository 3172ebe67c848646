"""The generic transition-table mechanism (web4.fsm), shared by the TrustFSM, HCP social
trust, the LIP claim life cycle and the CIP handshake."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import pytest

import web4.trust
from web4 import fsm
from web4.cip._state import HANDSHAKE_TABLES
from web4.fsm import Rule, TransitionTable
from web4.hcp.social import SOCIAL_TABLE
from web4.lip._state import CLAIM_TABLE
from web4.trust import TRUST_TABLE


class S(StrEnum):
    A = "a"
    B = "b"


class E(StrEnum):
    GO = "go"
    STAY = "stay"


@dataclass(frozen=True)
class Ctx:
    ok: bool
    hits: int = 0


def _bump(c: Ctx) -> Ctx:
    return Ctx(c.ok, c.hits + 1)


def _table() -> TransitionTable[S, E, Ctx]:
    return TransitionTable(
        "toy",
        S,
        E,
        [
            Rule(S.A, E.GO, S.B, "guarded go", lambda c: c.ok, "ok", _bump),
            Rule(S.A, E.GO, S.A, "else stay"),
            Rule(S.B, E.GO, S.A, "back"),
        ],
    )


def test_guard_true_fires_first_rule_and_effect() -> None:
    step = _table().step(S.A, E.GO, Ctx(ok=True))
    assert (step.src, step.dst, step.note, step.changed) == (S.A, S.B, "guarded go", True)
    assert step.ctx.hits == 1
    assert step.rule is not None
    assert step.rule.guard_text == "ok"


def test_guard_false_falls_through_to_else_rule() -> None:
    step = _table().step(S.A, E.GO, Ctx(ok=False))
    assert (step.dst, step.note, step.changed) == (S.A, "else stay", False)
    assert step.ctx.hits == 0


def test_no_rule_is_a_recorded_no_op() -> None:
    table = _table()
    step = table.step(S.B, E.STAY, Ctx(ok=True))
    assert step.rule is None
    assert step.dst == S.B
    assert not step.changed
    assert step.note == table.no_rule_note


def test_rules_for_lists_in_evaluation_order() -> None:
    table = _table()
    assert [r.note for r in table.rules_for(S.A, E.GO)] == ["guarded go", "else stay"]
    assert table.rules_for(S.B, E.STAY) == ()
    assert len(table.rules) == 3


def test_unknown_state_or_event_is_a_value_error() -> None:
    table = _table()
    with pytest.raises(ValueError, match="unknown state"):
        table.step("c", E.GO, Ctx(ok=True))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown event"):
        table.step(S.A, "jump", Ctx(ok=True))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ([Rule("x", E.GO, S.A, "n")], "unknown state"),
        ([Rule(S.A, E.GO, "x", "n")], "unknown state"),
        ([Rule(S.A, "jump", S.B, "n")], "unknown event"),
        ([Rule(S.A, E.GO, S.B, "")], "no note"),
        ([Rule(S.A, E.GO, S.B, "n"), Rule(S.A, E.GO, S.A, "m")], "unreachable"),
    ],
)
def test_malformed_tables_are_refused(rules: list[Rule[S, E, Ctx]], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TransitionTable("bad", S, E, rules)


def test_markdown_shows_guards_and_else_rows() -> None:
    md = _table().to_markdown()
    assert "| a | go | ok | b | guarded go |" in md
    assert "| a | go | (else) | a | else stay |" in md
    assert "| b | go |  | a | back |" in md


def test_the_mechanism_is_neutral_and_shared_by_all_four_machines() -> None:
    # web4.fsm imports nothing from web4, so no protocol package depends on another's.
    tree = ast.parse(Path(fsm.__file__).read_text(encoding="utf-8"))
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert not [m for m in imported if m == "web4" or m.startswith("web4.")]
    tables = [TRUST_TABLE, SOCIAL_TABLE, CLAIM_TABLE, *HANDSHAKE_TABLES.values()]
    assert all(isinstance(t, TransitionTable) for t in tables)
    assert not hasattr(web4.trust, "TransitionTable")  # moved, not re-exported
