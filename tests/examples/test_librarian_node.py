"""The librarian in real processes: three ``web4 node``s over RTT (two believers the
librarian trusts, the librarian proposing a fact they confirm), then a human with
``web4 human`` asks the librarian: what the mesh accepted is answered with its
provenance; what it did not is "I don't know yet" and an ``INTENT`` ask to the peers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from example_nodes import Node, human, new_human

pytestmark = pytest.mark.slow

WATER = "Water boils at 100 degrees Celsius at sea level"


@pytest.fixture
def mesh(tmp_path: Path) -> Iterator[tuple[Node, Node, Node]]:
    nodes: list[Node] = []
    try:
        believe = ("--believe", WATER.lower())
        b1 = Node(tmp_path, "b1", *believe)
        nodes.append(b1)
        b2 = Node(tmp_path, "b2", *believe)
        nodes.append(b2)
        lib = Node(
            tmp_path, "lib",
            "--peer", b1.addr, "--peer", b2.addr,
            "--trust", b1.fingerprint, "--trust", b2.fingerprint,
            "--agent", "examples/librarian:make",
            "--propose", f"{WATER}|physics|0.9",
        )  # fmt: skip
        nodes.append(lib)
        yield lib, b1, b2
    finally:
        for node in nodes:
            node.stop()


def test_a_human_question_is_answered_from_what_the_mesh_accepted(
    tmp_path: Path, mesh: tuple[Node, Node, Node]
) -> None:
    lib, b1, b2 = mesh
    lib.kind("knowledge.claim_accepted", 60.0, statement=WATER)
    dana = new_human(tmp_path, "dana", lib)
    out = human(dana, lib.addr, ["At what temperature does water boil?", "Why is the sky blue?"])
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert f"decision: {WATER}" in text
    assert "rationale:    accepted by this node's knowledge rules" in text
    assert f"{b1.fingerprint[:12]} (trusted)" in text
    assert f"{b2.fingerprint[:12]} (trusted)" in text
    assert f"proposed by {lib.fingerprint[:12]} (this node)" in text
    assert (
        'I don\'t know yet: nothing this node has accepted answers "Why is the sky blue?"' in text
    )
    assert "I asked 2 trusted peers" in text
    # the follow-up: the librarian adopted an ask and its INTENT reached both peers
    lib.kind("agent.intent", 30.0, goal="ask", intent="ask: question: sky blue")
    for peer in (b1, b2):
        peer.wait_for(
            lambda e: (
                e["kind"] == "router.routed"
                and e["attributes"].get("type") == "INTENT"
                and e.get("peer") == lib.fingerprint
            ),
            30.0,
        )
