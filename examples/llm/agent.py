"""The llm agent: its reasoning is a language model behind the OpenAI-compatible
chat-completions API (Ollama, llama.cpp's server, vLLM, LM Studio).

Theory of operation (handlers of the public Agent API, ``web4.agent``). Every model
answer is decoded into a strict Struct (``schema``) before anything is sent; a model
that is down, slow, or answers in the wrong shape raises a ``ModelError`` (``client``)
and the agent degrades: a human gets a clear reply saying so, a peer gets no vote (an
abstention), nothing is proposed. No model output reaches the wire unchecked, and every
check of the node still applies after it (the knowledge rules, the HCP gate).

* ``on_human``: a plain-text message (``HCP_CONTEXT``) is a question. The model answers
  it (``ReplyDraft``), given the mission and the statements this node has accepted, and
  the human gets an HCP decision with the model's rationale and alternatives, marked as
  drafted by the model. An ``HCP_INTENT`` with goal ``request`` asks the agent to
  contribute on a topic: the model drafts a fact (``FactDraft``: statement, sources,
  reasoning steps, counterfactuals, evidence), the agent proposes it to its peers
  (``ctx.propose``; acceptance still takes two trusted confirmations) and tells the human
  what it proposed and why. Anything else gets the node's usual planned answer.
* ``on_fact_proposed``: the model judges a peer's claim (``VoteDraft``: confirm, reject
  or challenge, with a confidence and a reason); the agent votes with that reason as the
  vote's notes, and abstains below ``min_vote_confidence``.
* ``on_intent``: a trusted peer asks (goal ``ask``): the model drafts a fact that answers
  it, proposed like a human's request.

The loop runs one event at a time: a model call holds the agent for at most the
client's total deadline, and ``handler_timeout`` is set above it so the deadline that
fires is always the client's (which degrades cleanly), never the loop's.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from web4.agent import (
    Agent,
    AgentContext,
    AgentOptions,
    FactProposed,
    HumanMessage,
    IntentReceived,
)
from web4.errors import ConfigError, Web4Error
from web4.hcp.messages import HcpContext, HcpIntent

from .client import ChatClient, JsonMode, ModelConfig, ModelError
from .schema import FactDraft, ReplyDraft, VoteDraft, json_schema

__all__ = ["MISSION", "LlmAgent", "make"]

MISSION = "answer people and weigh peers' claims with a local language model, checked"
MAX_FACTS_IN_PROMPT = 20

_SYSTEM = """You are the reasoning of a Web4 agent. Its mission: {mission}.
Answer with ONE JSON object and nothing else, matching this JSON Schema:
{schema}
Be factual. If you are not sure, say so in the rationale or use a low confidence."""


def _facts(ctx: AgentContext) -> str:
    nodes = ctx.memory(limit=MAX_FACTS_IN_PROMPT)
    if not nodes:
        return "(none yet)"
    return "\n".join(f"- {n.fact.statement}" for n in nodes)


class LlmAgent(Agent):
    """See the module docstring."""

    name = "llm"

    def __init__(
        self,
        config: ModelConfig,
        *,
        mission: str = MISSION,
        min_vote_confidence: float = 0.6,
    ) -> None:
        """Raises ``ConfigError``."""
        if not mission.strip():
            raise ConfigError("an agent declares a non-empty mission")
        if not 0.0 <= min_vote_confidence <= 1.0:
            raise ConfigError("min_vote_confidence must be within 0..1")
        self.config, self.mission = config, mission
        self.min_vote_confidence = min_vote_confidence
        # the client's total deadline fires first, so a slow model degrades cleanly
        self.handler_timeout = config.total_timeout_s + 5.0
        self._client: ChatClient | None = None

    @property
    def client(self) -> ChatClient:
        # made on first use, inside the node's event loop
        if self._client is None:
            self._client = ChatClient(self.config)
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def _system(self, out: type[ReplyDraft | VoteDraft | FactDraft]) -> str:
        return _SYSTEM.format(mission=self.mission, schema=json.dumps(json_schema(out)))

    def _by_model(self) -> str:
        return f"drafted by the language model {self.config.model} (checked against a schema)"

    # --- humans ----------------------------------------------------------------------

    async def on_human(self, ctx: AgentContext, message: HumanMessage) -> None:
        payload = message.payload
        if isinstance(payload, HcpContext) and payload.context.strip():
            await self._answer(ctx, message, payload.context.strip())
        elif isinstance(payload, HcpIntent) and payload.goal == "request":
            await self._contribute(ctx, message, payload.topic)
        else:
            ctx.usual_answer(message)

    async def _answer(self, ctx: AgentContext, message: HumanMessage, question: str) -> None:
        user = (
            f"A person asks:\n{question[:4000]}\n\nStatements this agent's node has "
            f"accepted from peers it trusts:\n{_facts(ctx)}\n\nAnswer the person: decision "
            "is your answer in one or two sentences, rationale says why (name the accepted "
            "statements you used), alternatives are 1 to 3 other answers or next steps."
        )
        try:
            draft = await self.client.ask(self._system(ReplyDraft), user, ReplyDraft)
        except ModelError as e:
            ctx.reply(message, e.reply)
            return
        rationale = f"{draft.rationale} ({self._by_model()})"
        ctx.decide(message, draft.decision, rationale=rationale[:4096],
                   alternatives=draft.alternatives)  # fmt: skip

    async def _contribute(self, ctx: AgentContext, message: HumanMessage, topic: str) -> None:
        try:
            statement = await self._propose(ctx, f"A person asked this agent to contribute "
                                            f"a fact on the topic: {topic}")  # fmt: skip
        except ModelError as e:
            ctx.reply(message, e.reply)
            return
        except Web4Error as e:  # a draft the CIP builder refuses (a broken limit)
            ctx.reply(message, f"My language model's draft on {topic} could not be proposed "
                      f"({str(e)[:200]}); nothing was sent.")  # fmt: skip
            return
        ctx.decide(
            message,
            f"I proposed to my peers: {statement}",
            rationale=f"you asked me to contribute on {topic}; {self._by_model()}; it "
            "becomes knowledge only if two peers I trust confirm it",
            alternatives=["ask me to look for a source first", "drop the proposal"],
        )

    async def _propose(self, ctx: AgentContext, why: str) -> str:
        """Draft a fact with the model and queue its proposal; returns the statement.
        Raises ``ModelError``, ``MessageBuildError``."""
        user = (
            f"{why[:4000]}\n\nStatements this agent's node has already accepted:\n"
            f"{_facts(ctx)}\n\nDraft ONE new, checkable fact: statement, a short domain, "
            "confidence 0..1, sources (where a peer can verify it: URLs or references), "
            "steps (your reasoning, in order), counterfactuals (what would make it false), "
            "evidence."
        )
        draft = await self.client.ask(self._system(FactDraft), user, FactDraft)
        ctx.propose(
            draft.statement,
            sources=draft.sources,
            steps=[self._by_model(), *draft.steps],
            domain=draft.domain,
            confidence=draft.confidence,
            counterfactuals=draft.counterfactuals,
            evidence=draft.evidence,
        )
        return draft.statement

    # --- peers -------------------------------------------------------------------------

    async def on_fact_proposed(self, ctx: AgentContext, proposal: FactProposed) -> None:
        fact, trace = proposal.fact, proposal.trace
        user = (
            f"A peer agent proposes this fact:\n{fact.statement}\n\ndomain: {fact.domain}; "
            f"its confidence: {fact.confidence}\nsources: {_lines(fact.sources)}\n"
            f"its reasoning: {_lines(trace.steps)}\n\nStatements this agent's node has "
            f"accepted:\n{_facts(ctx)}\n\nVote: confirm if it is true, reject if it is "
            "false, challenge if it cannot be checked from what is given; confidence 0..1; "
            "reason in one sentence."
        )
        try:
            vote = await self.client.ask(self._system(VoteDraft), user, VoteDraft)
        except ModelError:
            return  # no vote: abstaining is the safe answer when the model cannot judge
        if vote.confidence < self.min_vote_confidence:
            return
        notes = f"{vote.reason} ({self._by_model()})"[:4096]
        if vote.decision == "confirm":
            ctx.confirm(proposal, confidence=vote.confidence, notes=notes)
        elif vote.decision == "reject":
            ctx.reject(proposal, confidence=vote.confidence, notes=notes)
        else:
            ctx.challenge(proposal, reason="cannot_verify", notes=notes)

    async def on_intent(self, ctx: AgentContext, intent: IntentReceived) -> None:
        p = intent.payload
        if p.goal != "ask" or not p.context.strip() or ctx.trust(intent.peer) != "trusted":
            return
        try:
            await self._propose(ctx, f"A trusted peer agent asks:\n{p.context}")
        except Web4Error:
            return  # the model could not answer in shape: nothing is proposed


def _lines(items: Sequence[str]) -> str:
    return "; ".join(i[:300] for i in items[:16]) or "(none)"


def _float(opts: dict[str, str], key: str, default: float) -> float:
    raw = opts.get(key)
    if raw is None:
        return default
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"llm agent: {key} {raw!r} is not a number") from None


def make(options: AgentOptions) -> LlmAgent:
    """The factory for ``web4 node --agent examples/llm:make --agent-opt
    url=http://127.0.0.1:11434/v1 --agent-opt model=qwen2.5:7b``. Other options:
    ``api_key_env`` (the name of an environment variable holding a key), ``json_mode``
    (json_schema, json_object, none), ``connect_timeout``, ``read_timeout``,
    ``total_timeout`` (seconds), ``max_tokens``, ``min_vote_confidence``, ``mission``.
    Raises ``ConfigError``."""
    opts = dict(options.options)
    url, model = opts.get("url", "").strip(), opts.get("model", "").strip()
    if not url or not model:
        raise ConfigError(
            "llm agent: name the model server and model, e.g. --agent-opt "
            "url=http://127.0.0.1:11434/v1 --agent-opt model=qwen2.5:7b"
        )
    mode = opts.get("json_mode", "json_schema")
    if mode not in ("json_schema", "json_object", "none"):
        raise ConfigError(f"llm agent: json_mode {mode!r} is not json_schema, json_object or none")
    json_mode: JsonMode = mode  # type: ignore[assignment]
    config = ModelConfig(
        url,
        model,
        connect_timeout_s=_float(opts, "connect_timeout", 3.0),
        read_timeout_s=_float(opts, "read_timeout", 30.0),
        total_timeout_s=_float(opts, "total_timeout", 45.0),
        max_tokens=int(_float(opts, "max_tokens", 1024)),
        json_mode=json_mode,
        api_key_env=opts.get("api_key_env") or None,
    )
    return LlmAgent(
        config,
        mission=opts.get("mission") or MISSION,
        min_vote_confidence=_float(opts, "min_vote_confidence", 0.6),
    )
