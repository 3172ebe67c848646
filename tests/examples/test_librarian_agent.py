"""The librarian's handlers on the Agent API, over a real store whose claims the real
knowledge rules accepted (the actions the context queues are what the node performs)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
from examples_world import Mesh, ctx_for
from librarian.agent import MAX_OPEN, Librarian, is_question, make

from web4.agent import AgentContext, AgentOptions, ClaimSettled, HumanMessage, IntentReceived
from web4.agent.api import FactProposed
from web4.cip import messages as cm
from web4.cip.claims import claim_hash
from web4.errors import ConfigError
from web4.hcp.messages import HcpContext, HcpHello, HumanIdentity, HumanState
from web4.hcp.responder import Planned
from web4.store import DB_FILE_NAME, Store

HUMAN = "d" * 64
STATE = HumanState("focused", "calm", 80, 20, "learn", "granted")


@pytest.fixture
def mesh(tmp_path: Path) -> Iterator[Mesh]:
    store = Store.in_data_dir(tmp_path / "node", synchronous="OFF")
    yield Mesh(store)
    store.close()


@pytest.fixture
def librarian(mesh: Mesh, tmp_path: Path) -> Iterator[Librarian]:
    lib = Librarian(tmp_path / "node" / DB_FILE_NAME)
    yield lib
    lib.close()


def said(text: str) -> HumanMessage:
    payload = HcpContext(context=text, constraints=[], shared_history=[])
    return HumanMessage(
        HUMAN, "Dana", str(uuid.uuid4()), "HCP_CONTEXT", payload, STATE, "granted", (), None
    )


def human_actions(ctx: AgentContext) -> list[Planned]:
    return [a.payload for a in ctx.actions if a.kind == "human"]


def test_a_question_is_answered_from_accepted_knowledge(mesh: Mesh, librarian: Librarian) -> None:
    mesh.claim("Water boils at 100 degrees Celsius at sea level")
    ctx = ctx_for(mesh)
    librarian.on_human(ctx, said("At what temperature does water boil?"))
    (planned,) = human_actions(ctx)
    assert planned.kind == "decision"
    assert planned.text == "Water boils at 100 degrees Celsius at sea level"
    assert mesh.bob[:12] in planned.rationale
    assert planned.alternatives
    assert [a.kind for a in ctx.actions] == ["human"]  # nothing else: no fetch, no ask
    assert f"{mesh.alice[:12]} (trusted)" in planned.rationale
    assert librarian.open == {}


def test_nothing_accepted_means_i_dont_know_yet_and_asking_trusted_peers(
    mesh: Mesh, librarian: Librarian
) -> None:
    mesh.claim("Water boils at 100 degrees Celsius at sea level", confirm=False)  # pending
    ctx = ctx_for(mesh)
    librarian.on_human(ctx, said("At what temperature does water boil?"))
    kinds = [a.kind for a in ctx.actions]
    assert kinds == ["intent", "human"]
    intent = ctx.actions[0].payload
    assert intent.goal == "ask"
    assert intent.context == "At what temperature does water boil?"
    (planned,) = human_actions(ctx)
    assert planned.kind == "reply"
    assert planned.text.startswith("I don't know yet")
    assert "I asked 2 trusted peers" in planned.text  # bob and carol, not mallory
    assert len(librarian.open) == 1


def test_a_link_in_an_unanswered_question_is_fetched(mesh: Mesh, librarian: Librarian) -> None:
    ctx = ctx_for(mesh, peers=[])
    librarian.on_human(ctx, said("What does https://example.org/boiling say about water?"))
    assert (ctx.actions[0].kind, ctx.actions[0].payload) == ("fetch", "https://example.org/boiling")
    (planned,) = human_actions(ctx)
    assert "fetching https://example.org/boiling" in planned.text


def test_an_open_question_is_answered_once_the_fact_is_accepted(
    mesh: Mesh, librarian: Librarian
) -> None:
    librarian.on_human(ctx_for(mesh), said("Does copper conduct electricity?"))
    assert len(librarian.open) == 1
    claim_id = mesh.claim("Copper conducts electricity")
    settled = ClaimSettled(
        claim_id, "accepted", "accepted", mesh.kx.claim(claim_id), (mesh.bob, mesh.carol)
    )
    ctx = ctx_for(mesh)
    librarian.on_claim_settled(ctx, settled)
    (planned,) = human_actions(ctx)
    assert planned.kind == "decision"
    assert planned.text == "Copper conducts electricity"
    assert planned.rationale.startswith('Earlier you asked "Does copper conduct electricity?"')
    assert librarian.open == {}


def test_an_open_question_expires(mesh: Mesh, librarian: Librarian) -> None:
    librarian.on_human(ctx_for(mesh), said("Does copper conduct electricity?"))
    mesh.clock.advance(librarian.open_ttl_s + 1)
    claim_id = mesh.claim("Copper conducts electricity")
    ctx = ctx_for(mesh)
    librarian.on_claim_settled(ctx, ClaimSettled(claim_id, "accepted", "", mesh.kx.claim(claim_id)))
    assert human_actions(ctx) == []
    assert librarian.open == {}


def test_open_questions_are_bounded(mesh: Mesh, librarian: Librarian) -> None:
    for i in range(MAX_OPEN + 5):
        librarian.on_human(
            ctx_for(mesh, peers=[]), said(f"what about zebras, question number {i}?")
        )
    assert len(librarian.open) == MAX_OPEN
    assert "what about zebras, question number 0?" not in [
        o.question for o in librarian.open.values()
    ]


def test_a_trusted_peers_ask_is_answered_with_a_proposal_once(
    mesh: Mesh, librarian: Librarian
) -> None:
    claim_id = mesh.claim("Copper conducts electricity", sources=("https://example.org/cu",))
    ask = IntentReceived(
        mesh.bob,
        None,
        cm.Intent("ask", "question: copper", "normal", "Does copper conduct electricity?"),
    )
    ctx = ctx_for(mesh)
    librarian.on_intent(ctx, ask)
    (action,) = ctx.actions
    assert action.kind == "propose"
    assert action.payload.fact.statement == "Copper conducts electricity"
    assert action.payload.fact.sources == ["https://example.org/cu"]
    assert "https://example.org/cu" in action.payload.dmp_trace.evidence
    assert any(claim_id in step for step in action.payload.dmp_trace.steps)
    again = ctx_for(mesh)
    librarian.on_intent(again, ask)
    assert again.actions == []


def test_an_untrusted_peers_ask_gets_nothing(mesh: Mesh, librarian: Librarian) -> None:
    mesh.claim("Copper conducts electricity")
    ask = IntentReceived(mesh.mallory, None, cm.Intent("ask", "q", "normal", "copper conducts?"))
    ctx = ctx_for(mesh)
    librarian.on_intent(ctx, ask)
    assert ctx.actions == []


def _proposal(peer: str, statement: str) -> FactProposed:
    payload = cm.FactPropose(
        cm.Fact(statement, "science", 0.9, ["https://example.org/x"]),
        cm.DmpTrace(str(uuid.uuid4()), ["read"], [], ["https://example.org/x"]),
    )
    digest = claim_hash(peer, msgspec.to_builtins(payload))
    return FactProposed(peer, str(uuid.uuid4()), digest, payload)


def test_a_proposal_of_accepted_knowledge_is_confirmed_and_its_negation_challenged(
    mesh: Mesh, librarian: Librarian
) -> None:
    mesh.claim("The Great Wall is not visible from the Moon with the naked eye")
    ctx = ctx_for(mesh)
    wall = "the great wall is not visible from the moon with the naked eye."
    librarian.on_fact_proposed(ctx, _proposal(mesh.bob, wall))
    librarian.on_fact_proposed(ctx, _proposal(mesh.bob, wall.replace(" not", "")))
    librarian.on_fact_proposed(ctx, _proposal(mesh.bob, "The Great Wall is long"))
    assert [type(a.payload).__name__ for a in ctx.actions] == ["FactConfirm", "FactChallenge"]
    assert ctx.actions[1].payload.reason == "conflict"


def test_other_human_messages_get_the_usual_answer(mesh: Mesh, librarian: Librarian) -> None:
    hello = HcpHello(HumanIdentity("Dana", "reader"), [], [])
    msg = HumanMessage(
        HUMAN, "Dana", str(uuid.uuid4()), "HCP_HELLO", hello, STATE, "granted", (), None
    )
    ctx = ctx_for(mesh)
    librarian.on_human(ctx, msg)
    (planned,) = human_actions(ctx)
    assert planned.text.startswith("Hello Dana")


def test_an_unusable_store_is_a_reply_not_a_crash(tmp_path: Path, mesh: Mesh) -> None:
    lib = Librarian(tmp_path / "elsewhere" / DB_FILE_NAME)  # a store with no knowledge tables
    ctx = ctx_for(mesh)
    lib.on_human(ctx, said("Does copper conduct electricity?"))
    (planned,) = human_actions(ctx)
    assert planned.text.startswith("I cannot search my knowledge right now")
    lib.close()


def test_the_factory_keeps_the_index_in_the_nodes_store(tmp_path: Path) -> None:
    lib = make(AgentOptions(data_dir=tmp_path / "d" / "agent"))
    assert lib.store_path == tmp_path / "d" / DB_FILE_NAME
    assert lib.mission.startswith("answer people's questions")
    with pytest.raises(ConfigError):
        make(AgentOptions(options={"min_coverage": "lots"}))
    with pytest.raises(ConfigError):
        make(AgentOptions(options={"min_coverage": "0"}))


def test_this_nodes_own_claims_say_so_not_untrusted(mesh: Mesh, librarian: Librarian) -> None:
    mesh.claim("Copper conducts electricity")
    ctx = ctx_for(mesh, me=mesh.alice)  # as if this node had proposed it itself
    librarian.on_human(ctx, said("Does copper conduct electricity?"))
    (planned,) = human_actions(ctx)
    assert f"proposed by {mesh.alice[:12]} (this node)" in planned.rationale


def test_conversation_that_asks_nothing_gets_the_usual_answer(
    mesh: Mesh, librarian: Librarian
) -> None:
    assert is_question("what is copper")
    assert is_question("Copper conducts?")
    assert not is_question("Yes, go ahead: keep it small.")
    mesh.claim("Copper conducts electricity")
    ctx = ctx_for(mesh)
    librarian.on_human(ctx, said("Yes, go ahead: copper conducts electricity."))
    (planned,) = human_actions(ctx)
    assert planned.kind == "reply"
    assert planned.text.startswith("Noted: ")
    assert librarian.open == {}
