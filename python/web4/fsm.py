"""A generic, table-driven state machine: (state, event) -> (state, note), with guards.

Theory of operation: a ``TransitionTable`` is the whole machine, in one place. Each
``Rule`` says: in state ``src``, on ``event``, if ``guard(ctx)`` holds (or there is no
guard), go to ``dst``, explain it with ``note`` and apply ``effect(ctx)`` to the context.
Rules for the same (state, event) are tried in table order and the first whose guard holds
wins, so a guarded rule followed by an unguarded one reads as "if ... else ...". An
(state, event) pair with no matching rule is not an error: it yields a ``Step`` that
changes nothing (``rule is None``), which the caller still records.

The mechanism knows no protocol: states and events are strings (usually ``StrEnum``
members) and the context ``C`` is whatever frozen value the instance needs. Its users:
the CIP TrustFSM (``web4.trust``: the peer's record, the time and the policy), HCP social
trust (``web4.hcp.social``: the human's counters), the LIP claim life cycle
(``web4.lip._state``: no context) and the CIP handshake (``web4.cip._state``: one table
per role, no context). It lives outside all of them so none depends on another's
package. Evaluation is pure: no IO, no clock, no randomness.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["Rule", "Step", "TransitionTable"]

S = TypeVar("S", bound=str)
E = TypeVar("E", bound=str)
C = TypeVar("C")


@dataclass(frozen=True)
class Rule(Generic[S, E, C]):
    """One row of a transition table."""

    src: S
    event: E
    dst: S
    note: str
    guard: Callable[[C], bool] | None = None
    guard_text: str = ""
    effect: Callable[[C], C] | None = None


@dataclass(frozen=True)
class Step(Generic[S, E, C]):
    """The result of one evaluation: where we were, where we are, why, and the new context."""

    src: S
    event: E
    dst: S
    note: str
    rule: Rule[S, E, C] | None
    ctx: C

    @property
    def changed(self) -> bool:
        return self.src != self.dst


class TransitionTable(Generic[S, E, C]):
    """An immutable transition table over declared states and events.

    Raises ``ValueError`` at construction when a rule names an undeclared state or event,
    has an empty note, or is unreachable (it follows an unguarded rule for the same
    (state, event)).
    """

    def __init__(
        self,
        name: str,
        states: Iterable[S],
        events: Iterable[E],
        rules: Sequence[Rule[S, E, C]],
        no_rule_note: str = "no transition for this event in this state",
    ) -> None:
        self.name = name
        self.states: tuple[S, ...] = tuple(states)
        self.events: tuple[E, ...] = tuple(events)
        self.no_rule_note = no_rule_note
        self._rules: tuple[Rule[S, E, C], ...] = tuple(rules)
        self._index: dict[tuple[S, E], list[Rule[S, E, C]]] = {}
        for rule in self._rules:
            if rule.src not in self.states or rule.dst not in self.states:
                raise ValueError(f"{name}: rule {rule.src}->{rule.dst} names an unknown state")
            if rule.event not in self.events:
                raise ValueError(f"{name}: rule on unknown event {rule.event!r}")
            if not rule.note:
                raise ValueError(f"{name}: rule {rule.src}/{rule.event} has no note")
            bucket = self._index.setdefault((rule.src, rule.event), [])
            if bucket and bucket[-1].guard is None:
                raise ValueError(
                    f"{name}: rule {rule.src}/{rule.event} -> {rule.dst} is unreachable "
                    "(an unguarded rule for the same state and event precedes it)"
                )
            bucket.append(rule)

    @property
    def rules(self) -> tuple[Rule[S, E, C], ...]:
        return self._rules

    def rules_for(self, state: S, event: E) -> tuple[Rule[S, E, C], ...]:
        """The rules that may fire in ``state`` on ``event``, in evaluation order."""
        return tuple(self._index.get((state, event), ()))

    def step(self, state: S, event: E, ctx: C) -> Step[S, E, C]:
        """Evaluate one event. Pure. Raises ``ValueError`` for an undeclared state or
        event (a programming error, never a peer's input)."""
        if state not in self.states:
            raise ValueError(f"{self.name}: unknown state {state!r}")
        if event not in self.events:
            raise ValueError(f"{self.name}: unknown event {event!r}")
        for rule in self._index.get((state, event), ()):
            if rule.guard is None or rule.guard(ctx):
                new_ctx = rule.effect(ctx) if rule.effect is not None else ctx
                return Step(state, event, rule.dst, rule.note, rule, new_ctx)
        return Step(state, event, state, self.no_rule_note, None, ctx)

    def to_markdown(self) -> str:
        """The table as a Markdown table (for the spec; generated, never hand-edited)."""
        lines = ["| from | event | guard | to | note |", "|---|---|---|---|---|"]
        for r in self._rules:
            guard = r.guard_text or ("(else)" if self._has_guarded_sibling(r) else "")
            lines.append(f"| {r.src} | {r.event} | {guard} | {r.dst} | {r.note} |")
        return "\n".join(lines) + "\n"

    def _has_guarded_sibling(self, rule: Rule[S, E, C]) -> bool:
        return any(r.guard is not None for r in self._index[(rule.src, rule.event)])
