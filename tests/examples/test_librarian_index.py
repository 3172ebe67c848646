"""The librarian's FTS5 index over accepted knowledge and its answers (real SQLite store,
claims accepted by the real knowledge rules)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from examples_world import Mesh
from librarian.answer import answer, found_later, unknown, urls_in
from librarian.index import KnowledgeIndex, terms

from web4.errors import ConfigError, StoreError
from web4.hcp.gate import check_decision
from web4.store import Store


@pytest.fixture
def mesh(tmp_path: Path) -> Iterator[Mesh]:
    store = Store.in_data_dir(tmp_path / "node", synchronous="OFF")
    yield Mesh(store)
    store.close()


def test_question_terms_drop_stop_words_and_keep_numbers() -> None:
    assert terms("What is the boiling point of WATER at 100 m?") == (
        "boiling",
        "point",
        "water",
        "100",
    )
    assert terms("who? what? the!") == ()


def test_fts_syntax_in_a_question_is_searched_as_words_not_run(mesh: Mesh) -> None:
    mesh.claim("Water boils at 100 degrees Celsius at sea level")
    index = KnowledgeIndex(mesh.store)
    for hostile in ('water" OR "x', "boils NEAR(water)", "water*", "statement:water ^ -"):
        hits = index.search(hostile, mesh.trust_of)
        assert [h.statement for h in hits] == ["Water boils at 100 degrees Celsius at sea level"]


def test_an_accepted_fact_answers_a_question_in_other_words(mesh: Mesh) -> None:
    claim = mesh.claim(
        "Water boils at 100 degrees Celsius at sea level", sources=("https://example.org/water",)
    )
    hits = KnowledgeIndex(mesh.store).search("At what temperature does water boil?", mesh.trust_of)
    assert [h.node_id for h in hits] == [claim]
    hit = hits[0]
    assert set(hit.matched) == {"water", "boil"}
    assert hit.of_terms == 3  # temperature, water, boil
    assert hit.proposer.fingerprint == mesh.alice
    assert hit.proposer.trust == "trusted"
    assert [(p.fingerprint, p.trust) for p in hit.confirmers] == [
        (mesh.bob, "trusted"),
        (mesh.carol, "trusted"),
    ]
    assert hit.sources == ("https://example.org/water",)


def test_claims_not_accepted_are_never_found(mesh: Mesh) -> None:
    mesh.claim("Water boils at 100 degrees Celsius at sea level", confirm=False)
    index = KnowledgeIndex(mesh.store)
    assert index.search("water boils", mesh.trust_of) == []
    assert index.size() == 0


def test_claims_accepted_after_the_index_was_built_are_found(mesh: Mesh) -> None:
    index = KnowledgeIndex(mesh.store)
    assert index.search("copper conduct electricity", mesh.trust_of) == []
    mesh.claim("Copper conducts electricity")
    assert [h.statement for h in index.search("copper conduct electricity", mesh.trust_of)] == [
        "Copper conducts electricity"
    ]
    assert index.sync() == 0
    assert index.size() == 1


def test_a_claim_matching_too_few_words_is_not_an_answer(mesh: Mesh) -> None:
    mesh.claim("Water boils at 100 degrees Celsius at sea level")
    index = KnowledgeIndex(mesh.store)
    # one word of four ("water") is below the default coverage of one half
    assert index.search("is seawater drinkable water for sailors", mesh.trust_of) == []
    assert KnowledgeIndex(mesh.store, min_coverage=0.2).search(
        "is seawater drinkable water for sailors", mesh.trust_of
    )


def test_more_matched_words_rank_first_then_bm25(mesh: Mesh) -> None:
    mesh.claim("Copper conducts electricity")
    best = mesh.claim("Copper conducts heat and electricity well")
    mesh.claim("Copper is a metal")
    hits = KnowledgeIndex(mesh.store, min_coverage=0.3).search(
        "does copper conduct heat", mesh.trust_of
    )
    assert hits[0].node_id == best
    assert len(hits) == 3
    assert [len(h.matched) for h in hits] == [3, 2, 1]


def test_the_index_survives_reopening_the_store(tmp_path: Path) -> None:
    store = Store.in_data_dir(tmp_path / "n", synchronous="OFF")
    Mesh(store).claim("Copper conducts electricity")
    KnowledgeIndex(store).sync()
    store.close()
    again = Store.in_data_dir(tmp_path / "n", synchronous="OFF")
    index = KnowledgeIndex(again)
    assert index.size() == 1
    assert index.sync() == 0
    again.close()


def test_bad_settings_are_config_errors(mesh: Mesh) -> None:
    with pytest.raises(ConfigError):
        KnowledgeIndex(mesh.store, min_coverage=0)
    with pytest.raises(ConfigError):
        KnowledgeIndex(mesh.store, limit=0)


def test_a_store_without_knowledge_tables_is_a_store_error(tmp_path: Path) -> None:
    store = Store.open(":memory:")
    with pytest.raises(StoreError):
        KnowledgeIndex(store).sync()
    store.close()


def test_the_answer_is_a_valid_hcp_decision_with_provenance(mesh: Mesh) -> None:
    mesh.claim(
        "Water boils at 100 degrees Celsius at sea level", sources=("https://example.org/water",)
    )
    hits = KnowledgeIndex(mesh.store).search("when does water boil", mesh.trust_of)
    a = answer("when does water boil", hits)
    assert a.kind == "decision"
    assert a.text == "Water boils at 100 degrees Celsius at sea level"
    assert mesh.alice[:12] in a.rationale
    assert mesh.bob[:12] in a.rationale
    assert "(trusted)" in a.rationale
    assert "https://example.org/water" in a.rationale
    assert "2027-01-15" in a.rationale  # accepted_at, in UTC, from the fake clock
    assert "(confirmed by 2 trusted peers)" in a.rationale  # the rule that accepted it
    assert a.alternatives == ("read the source yourself: https://example.org/water",)
    check_decision(a.text, a.rationale, list(a.alternatives))


def test_other_matching_facts_are_the_alternatives(mesh: Mesh) -> None:
    mesh.claim("Copper conducts electricity")
    mesh.claim("Copper conducts heat")
    a = answer(
        "copper conducts", KnowledgeIndex(mesh.store).search("copper conducts", mesh.trust_of)
    )
    assert a.kind == "decision"
    assert len(a.alternatives) == 1
    assert a.alternatives[0].startswith("Copper conducts")
    assert a.alternatives[0].split(" (also")[0] != a.text


def test_no_hit_says_i_dont_know_yet_and_what_follows() -> None:
    a = answer("why is the sky blue", [])
    assert a.kind == "reply"
    assert a.text.startswith("I don't know yet")
    asked = unknown("why is the sky blue", asked=2)
    assert "I asked 2 trusted peers" in asked.text
    assert "I will tell you" in asked.text
    fetched = unknown("see https://example.org/sky", fetching="https://example.org/sky")
    assert "fetching https://example.org/sky" in fetched.text


def test_an_answer_found_later_says_it_answers_the_earlier_question(mesh: Mesh) -> None:
    mesh.claim("Copper conducts electricity")
    hits = KnowledgeIndex(mesh.store).search("copper conducts", mesh.trust_of)
    later = found_later("does copper conduct?", hits)
    assert later.kind == "decision"
    assert 'Earlier you asked "does copper conduct?"' in (later.rationale)


def test_urls_are_taken_from_the_question() -> None:
    assert urls_in(
        "read https://example.org/a. and http://x.test/b?c=1, https://example.org/a"
    ) == (
        "https://example.org/a",
        "http://x.test/b?c=1",
    )
