"""The librarian agent: answers a human's questions from what the node has accepted.

Theory of operation (handlers of the public Agent API, ``web4.agent``):

* ``on_human``: a plain-text message (``HCP_CONTEXT``) that asks something (a question
  mark, or a question word first; anything else gets the usual answer) is a question. The index
  (``index.KnowledgeIndex``: SQLite FTS5 over causal memory, the accepted claims only)
  finds the claims that answer it; the best one goes back as an HCP decision whose
  rationale is its provenance (when it was accepted, proposed and confirmed by whom,
  with the trust this node gives each now, confidence, sources) and whose alternatives
  are the other matches. Nothing matches: the human hears "I don't know yet", and the
  librarian starts a follow-up: a LIP fetch of a link in the question (``ctx.fetch``),
  and an ``INTENT`` (goal ``ask``, the question as context) to its peers. The question
  stays open (bounded, for ``open_ttl_s``). Every other HCP message gets the node's usual
  planned answer (``web4.hcp.responder``), so greetings and intents still work.
* ``on_claim_settled`` / ``on_evidence``: new knowledge may answer an open question;
  each open question is searched again and, when it now has an answer, the human who
  asked gets it ("Earlier you asked ...").
* ``on_intent``: a trusted peer asks (goal ``ask``); if this node has accepted an answer
  it proposes that fact to its peers (``ctx.propose``, once per fact), with its
  provenance as the reasoning trace. At the asking node that proposal is a claim like
  any other: it is accepted only when two peers it trusted beforehand confirm it.
* ``on_fact_proposed``: a peer proposes a statement this node has accepted (same words
  after the knowledge layer's normalisation): confirm it; its exact negation: challenge
  it (``conflict``). So librarians that hold a fact vouch for it when another asks.

The index lives in the node's own SQLite file (``DATA_DIR/web4.sqlite3``, subsystem
``librarian``), opened on first use with its own connection: the node has created the
knowledge tables by then. A store that cannot be used becomes a reply saying so.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from web4.agent import (
    Agent,
    AgentContext,
    AgentOptions,
    ClaimSettled,
    EvidenceReceived,
    FactProposed,
    HumanMessage,
    IntentReceived,
)
from web4.errors import ConfigError, StoreError
from web4.hcp.messages import HcpContext
from web4.knowledge.rules import contradicts, normalize
from web4.store import DB_FILE_NAME, Store

from .answer import Answer, answer, found_later, short_fp, unknown, urls_in
from .index import Hit, KnowledgeIndex, terms

__all__ = ["MISSION", "Librarian", "is_question", "make"]

MISSION = "answer people's questions from the knowledge this node has accepted"
MAX_OPEN = 32  # open questions kept (oldest dropped first)
_ASKING_WORDS = (
    "what who whom whose when where why how which is are was were does do did can "
    "could should would will has have tell explain name list"
)
_ASKING = frozenset(_ASKING_WORDS.split())


def is_question(text: str) -> bool:
    """Does ``text`` ask something (a question mark, or a question word first)? Anything
    else ("Yes, go ahead") is conversation and gets the usual answer."""
    words = text.strip().casefold().split()
    return text.rstrip().endswith("?") or (bool(words) and words[0].strip(",:") in _ASKING)


@dataclass(frozen=True, slots=True)
class _Open:
    message: HumanMessage
    question: str
    at: float


class Librarian(Agent):
    """See the module docstring."""

    name = "librarian"
    handler_timeout = 5.0

    def __init__(
        self,
        store_path: Path | str,
        *,
        mission: str = MISSION,
        min_coverage: float = 0.5,
        open_ttl_s: float = 3600.0,
    ) -> None:
        """``store_path``: the node's SQLite file. Raises ``ConfigError``."""
        if not mission.strip():
            raise ConfigError("an agent declares a non-empty mission")
        if not 0.0 < min_coverage <= 1.0:
            raise ConfigError("min_coverage must be within (0, 1]")
        if not open_ttl_s > 0:
            raise ConfigError("open_ttl_s must be > 0")
        self.mission, self.store_path = mission, Path(store_path)
        self.min_coverage, self.open_ttl_s = min_coverage, open_ttl_s
        self._index: KnowledgeIndex | None = None
        self._store: Store | None = None
        self.open: OrderedDict[tuple[str, str], _Open] = OrderedDict()
        self._offered: set[str] = set()  # accepted claims we proposed for an ask

    # --- the index -------------------------------------------------------------------

    def index(self) -> KnowledgeIndex:
        """The index, opened on first use. Raises ``StoreError``."""
        if self._index is None:
            store = Store.open(self.store_path)
            try:
                self._index = KnowledgeIndex(store, min_coverage=self.min_coverage)
            except BaseException:
                store.close()
                raise
            self._store = store
        return self._index

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store, self._index = None, None

    def search(self, ctx: AgentContext, question: str) -> list[Hit]:
        """Raises ``StoreError``."""

        def trust(fp: str) -> str:  # the trust book has no entry for this node itself
            return "this node" if fp == ctx.me else ctx.trust(fp)

        return self.index().search(question, trust)

    # --- humans ----------------------------------------------------------------------

    def on_human(self, ctx: AgentContext, message: HumanMessage) -> None:
        payload = message.payload
        if not isinstance(payload, HcpContext):
            self._usual(ctx, message)
            return
        question = payload.context.strip()
        if not is_question(question):
            self._usual(ctx, message)
            return
        if not terms(question):
            ctx.reply(message, "Ask me a question about something, and I will look in what "
                      "this node has accepted.")  # fmt: skip
            return
        try:
            hits = self.search(ctx, question)
        except StoreError as e:
            ctx.reply(message, f"I cannot search my knowledge right now ({str(e)[:200]}).")
            return
        if hits:
            self._say(ctx, message, answer(question, hits))
            return
        self._say(ctx, message, self._follow_up(ctx, message, question))

    def _follow_up(self, ctx: AgentContext, message: HumanMessage, question: str) -> Answer:
        """Start finding out (a fetch, a question to the peers) and remember the question."""
        urls = urls_in(question)
        fetching = urls[0] if urls else None
        if fetching is not None:
            ctx.fetch(fetching)
        trusted = [p for p in ctx.peers() if ctx.trust(p) == "trusted"]
        if trusted:
            topic = "question: " + " ".join(terms(question))
            ctx.send_intent("ask", topic[:200], context=question[:4096])
        self._remember(_Open(message, question, ctx.now))
        return unknown(question, fetching=fetching, asked=len(trusted))

    def _remember(self, item: _Open) -> None:
        key = (item.message.human, " ".join(item.question.casefold().split()))
        self.open.pop(key, None)
        self.open[key] = item
        while len(self.open) > MAX_OPEN:
            self.open.popitem(last=False)

    def _usual(self, ctx: AgentContext, message: HumanMessage) -> None:
        ctx.usual_answer(message)

    @staticmethod
    def _say(ctx: AgentContext, message: HumanMessage, a: Answer) -> None:
        if a.kind == "decision":
            ctx.decide(message, a.text, rationale=a.rationale, alternatives=a.alternatives)
        else:
            ctx.reply(message, a.text)

    # --- new knowledge: answer open questions ------------------------------------------

    def recheck(self, ctx: AgentContext) -> int:
        """Answer the open questions that accepted knowledge now answers; returns how
        many were answered. Raises ``StoreError``."""
        answered = 0
        for key, item in list(self.open.items()):
            if ctx.now - item.at > self.open_ttl_s:
                del self.open[key]
                continue
            hits = self.search(ctx, item.question)
            if hits:
                del self.open[key]
                self._say(ctx, item.message, found_later(item.question, hits))
                answered += 1
        return answered

    def on_claim_settled(self, ctx: AgentContext, settled: ClaimSettled) -> None:
        if settled.state == "accepted" and self.open:
            self.recheck(ctx)

    def on_evidence(self, ctx: AgentContext, evidence: EvidenceReceived) -> None:
        if self.open:  # LIP knowledge is admitted by its own queue, not a settled claim
            self.recheck(ctx)

    # --- peers -------------------------------------------------------------------------

    def on_intent(self, ctx: AgentContext, intent: IntentReceived) -> None:
        p = intent.payload
        if p.goal != "ask" or not p.context.strip() or ctx.trust(intent.peer) != "trusted":
            return
        for hit in self.search(ctx, p.context)[:1]:
            if hit.node_id in self._offered or not hit.sources:
                continue
            self._offered.add(hit.node_id)
            confirmed = ", ".join(short_fp(c.fingerprint) for c in hit.confirmers) or "nobody"
            ctx.propose(
                hit.statement,
                sources=hit.sources,
                steps=(
                    f"{short_fp(intent.peer)} asked: {p.context[:300]}",
                    f"this node accepted it under the knowledge rules (claim {hit.node_id}), "
                    f"proposed by {short_fp(hit.proposer.fingerprint)}, confirmed by "
                    f"{confirmed}",
                ),
                domain=hit.domain,
                confidence=hit.confidence,
                context=hit.context,
            )

    def on_fact_proposed(self, ctx: AgentContext, proposal: FactProposed) -> None:
        said = normalize(proposal.statement)
        for hit in self.search(ctx, proposal.statement):
            held = normalize(hit.statement)
            when = f"accepted here as claim {hit.node_id}"
            if held.text == said.text:
                ctx.confirm(proposal, confidence=hit.confidence, notes=when)
                return
            if contradicts(held, said):
                ctx.challenge(proposal, reason="conflict", notes=f"contradicts what was {when}")
                return


def make(options: AgentOptions) -> Librarian:
    """The factory for ``web4 node --agent examples/librarian:make``: the index is kept
    in the node's store (``DATA_DIR/web4.sqlite3``; ``options.data_dir`` is
    ``DATA_DIR/agent``). ``--agent-opt min_coverage=0.5`` tunes how much of a question an
    answer must match; ``--agent-opt store=PATH`` names another store;
    ``--agent-opt mission=...`` replaces its mission. Raises
    ``ConfigError``."""
    opts = options.options
    raw = opts.get("min_coverage", "0.5")
    try:
        coverage = float(raw)
    except ValueError:
        raise ConfigError(f"min_coverage {raw!r} is not a number") from None
    store = opts.get("store") or str(Path(options.data_dir).parent / DB_FILE_NAME)
    mission = opts.get("mission") or MISSION
    return Librarian(store, mission=mission, min_coverage=coverage)
