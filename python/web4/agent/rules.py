"""RuleBasedAgent: a small, predictable agent for demos and tests.

Theory of operation: a list of ``Rule`` records, first match wins, keyed by (protocol,
type) with ``None`` as a wildcard. ``gather_context`` finds the rule and flattens the
payload into ``facts`` (nested keys joined by ``_``, values cut to 120 characters);
``decide`` formats the rule's ``choice`` template with those facts (missing keys become
empty), or, when our own presence is ``overloaded``, defers any new work (brief:
overloaded means do not take on new work now); ``act`` returns the rule's reply, if any,
as an ``Outbound`` to the sender; ``record`` writes the DMP trace (the matched rule and
the message as steps and evidence, the alternative of ignoring it as a counterfactual);
``update_state`` adopts the rule's intent. Messages no rule matches are ignored
(``decide`` returns ``None``).
"""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from web4.agent.hooks import trace_of
from web4.agent.types import (
    ActionResult,
    Context,
    Decision,
    DecisionRecord,
    InboundItem,
    InboundMessage,
    Intent,
    KnowledgeAccepted,
    Outbound,
    check_intent,
)
from web4.errors import ConfigError

__all__ = ["Rule", "RuleBasedAgent"]


@dataclass(frozen=True)
class Rule:
    """When a message of (protocol, type) arrives, choose ``choice`` (a format template
    over the flattened payload, plus ``peer``, ``type`` and ``protocol``)."""

    protocol: str | None
    type: str | None
    choice: str
    reply_type: str | None = None
    reply_payload: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    intent: Intent | None = None

    def __post_init__(self) -> None:
        if self.intent is not None:
            check_intent(self.intent)
        try:
            fields = [f for _, f, _, _ in string.Formatter().parse(self.choice) if f]
        except ValueError as exc:
            raise ConfigError(f"bad choice template {self.choice!r}: {exc}") from exc
        if any(not f.isidentifier() for f in fields):
            raise ConfigError(f"choice template fields are plain names: {self.choice!r}")

    def matches(self, item: InboundItem) -> bool:
        if isinstance(item, KnowledgeAccepted):
            return self.protocol == "knowledge" and self.type in (None, "ACCEPTED")
        return self.protocol in (None, item.protocol) and self.type in (None, item.type)


class _Blank(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return ""


def _flatten(payload: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in payload.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(_flatten(value, name + "_"))
        elif isinstance(value, list | tuple):
            out[name] = ", ".join(str(v) for v in value)[:120]
        else:
            out[name] = str(value)[:120]
    return out


class RuleBasedAgent:
    """First-match rules over (protocol, type); see the module docstring."""

    def __init__(self, mission: str, rules: Sequence[Rule]) -> None:
        if not mission.strip():
            raise ConfigError("an agent declares a non-empty mission")
        self.mission = mission
        self.rules = tuple(rules)

    def gather_context(self, item: InboundItem, base: Context) -> Context:
        facts: dict[str, Any] = {}
        if isinstance(item, InboundMessage):
            facts.update(_flatten(item.payload))
            facts.update(peer=item.peer, type=item.type, protocol=item.protocol)
        else:
            facts.update(statement=item.statement[:120], domain=item.domain, claim_id=item.claim_id)
        rule = next((i for i, r in enumerate(self.rules) if r.matches(item)), None)
        facts["rule"] = rule
        return replace(base, facts=MappingProxyType(facts))

    def decide(self, context: Context) -> Decision | None:
        index = context.facts.get("rule")
        if not isinstance(index, int):
            return None
        rule = self.rules[index]
        item = context.item
        evidence = (
            (f"{item.protocol}/{item.type} {item.msg_id or '-'} from {item.peer}",)
            if isinstance(item, InboundMessage)
            else (f"accepted claim {getattr(item, 'claim_id', '-')}",)
        )
        if context.presence == "overloaded" and not (
            isinstance(item, InboundMessage) and item.type == "STATE_UPDATE"
        ):
            return Decision(
                choice="defer new work while overloaded",
                steps=(f"presence overloaded at lri {context.lri}",),
                counterfactuals=(rule.choice,),
                evidence=evidence,
            )
        values = _Blank({k: str(v) for k, v in context.facts.items()})
        return Decision(
            choice=rule.choice.format_map(values),
            steps=(f"rule {index} matched {rule.protocol or '*'}/{rule.type or '*'}",),
            counterfactuals=("ignore the message",),
            evidence=evidence,
        )

    def act(self, decision: Decision, context: Context) -> ActionResult:
        index = context.facts.get("rule")
        item = context.item
        if decision.choice.startswith("defer") or not isinstance(index, int):
            return ActionResult(outcome="deferred")
        rule = self.rules[index]
        if rule.reply_type is None or not isinstance(item, InboundMessage):
            return ActionResult(outcome="done")
        reply = Outbound(item.protocol, rule.reply_type, dict(rule.reply_payload), item.peer)
        return ActionResult(outcome=f"replied {rule.reply_type}", outbound=(reply,))

    def record(self, decision: Decision, result: ActionResult, context: Context) -> DecisionRecord:
        return trace_of(decision, result, context)

    def update_state(
        self, decision: Decision, result: ActionResult, context: Context
    ) -> Intent | None:
        index = context.facts.get("rule")
        if result.outcome == "deferred" or not isinstance(index, int):
            return None
        return self.rules[index].intent
