"""``web4 conformance`` against real nodes: the project's own node passes every case, and
each negative case is shown to catch a node broken on purpose.

One module-scoped fleet: the real node and one broken node per flip of
``broken_node.FLIPS`` (each a real ``web4 node`` process with exactly one check patched
out), all started at once. The runner plays the whole catalogue against every broken
node concurrently; each flip must fail exactly the cases listed for it in ``BREAKS``
(the case that tests that check, and the cases that depend on it, named there with the
reason), and no other. A test also checks that every negative case is caught by some
flip. The RTT checks are Rust (web4-proto), which no Python monkeypatch reaches: the RTT
negative cases are shown failing against ``wrong_rtt_peer.WrongRttPeer``, a peer scripted
on the raw probe that answers each of them wrongly (and every RTT positive case rightly).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from broken_node import FLIPS
from wrong_rtt_peer import WrongRttPeer

import support.nodeproc as nodeproc
from support.nodeproc import LOOPBACK, NodeProc, human_key, web4
from web4.conformance.runner import CaseResult, catalogue, run_cases, select
from web4.conformance.wire import Target
from web4.hcp.authorized import add_authorized, authorized_path
from web4.identity import Identity

BROKEN_NODE = Path(__file__).with_name("broken_node.py")
QUIET = 0.5  # "no answer" wait: loopback answers take milliseconds, even on a busy box
TIMEOUT = 10.0
BROKEN_AT_ONCE = 6

_SIGNATURE = {
    "cip.hello.tampered_payload",
    "cip.hello.tampered_timestamp",
    "cip.hello.tampered_trust_view",
    "cip.hello.signature_bit_flipped",
    "cip.hello.signature_by_another_key",
    "cip.hello.signature_s_not_reduced",
    "cip.hello.signature_all_zero",
}

# flip -> the cases it must fail (and why the related ones fail too)
BREAKS: dict[str, set[str]] = {
    "size": {"cip.hello.oversize"},
    "version": {
        "cip.hello.version_2_0",
        "cip.hello.version_2_0_bad_signature",
        "hcp.hello.version_2_0",
    },
    "duplicates": {"cip.hello.duplicate_key"},
    "timestamp_format": {"cip.hello.timestamp_space"},
    "sign_algo": {"cip.hello.wrong_sign_algo"},
    "ranges": {"cip.hello.lri_out_of_range"},
    "calendar": {"cip.hello.impossible_time"},
    "check_order": {"cip.hello.payload_before_signature"},
    # a mismatched fingerprint no longer blacklists, so the blacklist cases fail too
    "fingerprint": {
        "cip.hello.wrong_fingerprint",
        "cip.trust.blacklisted_hello",
        "cip.after.wrong_fingerprint",
    },
    # a bad signature after the handshake is accepted too, so no demotion follows
    "signature": _SIGNATURE | {"cip.after.bad_signature", "hcp.hello.tampered_state"},
    "lax_ed25519": {"cip.hello.signature_s_not_reduced"},
    "receiver": {"cip.hello.wrong_receiver", "hcp.hello.wrong_receiver"},
    "skew": {"cip.hello.stale", "cip.hello.future", "hcp.hello.stale"},
    "replay": {
        "cip.hello.replay_same_bytes",
        "cip.hello.replay_reformatted",
        "hcp.hello.replay",
    },
    # an unbound responder cannot attribute a bad signature or fingerprint to the link's
    # peer (CIP §6 Attribution), so those no longer fail the handshake; without the
    # transport's key it runs the three-HELLO variant, whose HELLO says `untrusted`
    "binding": _SIGNATURE
    | {
        "cip.handshake.trust_views",
        "cip.hello.from_another_key",
        "cip.hello.wrong_fingerprint",
        "cip.trust.blacklisted_hello",
    },
    "protocols": {"cip.hello.without_cip_1_0"},
    "nonce_binding": {"cip.confirm.changed_nonce"},
    "challenge": {"cip.confirm.bad_challenge_response"},
    "after_signature": {"cip.after.bad_signature"},
    # LIP refusals are observed through the fault meter
    "flood": {"cip.after.flood", "lip.evidence.without_evidence"},
    # a blacklisted key's HELLO is answered
    "gate": {"cip.trust.blacklisted_hello", "cip.after.wrong_fingerprint"},
    "sign_members": {"hcp.hello.sign_extra_member"},
    "hcp_vocabulary": {"hcp.hello.unknown_safety_flag"},
    "lip_evidence": {"lip.evidence.without_evidence"},
    "authorisation": {"hcp.hello.unknown_human"},
    # no repeat is answered after the end, so the bound on answers cannot be seen either
    "repeat_after_end": {"cip.after.repeat_intent", "cip.after.repeat_intent_bounded"},
    "repeat_unbounded": {"cip.after.repeat_intent_bounded"},
    "repeat_window": {"cip.after.intent_changed_back"},
}


@dataclass
class Fleet:
    good: NodeProc
    broken: dict[str, NodeProc]
    human: Path  # the data dir of the runner's human key, authorised on every node


def _spawn(root: Path, name: str, prefix: list[str], human: str, cli: bool = False) -> NodeProc:
    """A node in ``root/name`` whose operator authorised the human key ``human`` (the HCP
    cases need one): with ``web4 human-key add`` when ``cli``, else the same function
    called in-process (one CLI start per broken node would cost seconds)."""
    Identity.create_in_data_dir(root / name, name)
    if cli:
        added = human_key("add", human, "--name", "conformance", "--data-dir", str(root / name))
        assert added.returncode == 0, added.stderr
    else:
        add_authorized(authorized_path(root / name), human, "conformance")
    with pytest.MonkeyPatch.context() as mp:  # NodeProc runs `*WEB4 node ...`
        mp.setattr(nodeproc, "WEB4", prefix)
        return NodeProc(root / name, *LOOPBACK)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    root = tmp_path_factory.mktemp("conformance")
    human = root / "human"
    fp = Identity.create_in_data_dir(human, "conformance-human").fingerprint
    procs: list[NodeProc] = []
    try:
        good = _spawn(root, "good", nodeproc.WEB4, fp, cli=True)
        procs.append(good)
        broken = {}
        for flip in FLIPS:  # all started before any is waited for
            broken[flip] = _spawn(root, flip, [sys.executable, str(BROKEN_NODE), flip], fp)
            procs.append(broken[flip])
        for p in procs:
            p.addr(60)
        yield Fleet(good, broken, human)
    finally:
        for p in procs:  # SIGTERM to all first: they stop in parallel
            if p.proc.poll() is None:
                os.killpg(p.proc.pid, signal.SIGTERM)
        for p in procs:
            p.stop()


@pytest.fixture(scope="module")
def broken_results(fleet: Fleet) -> dict[str, dict[str, CaseResult]]:
    cases = catalogue()
    human = Identity.in_data_dir(fleet.human)

    # A negative case passes on silence within QUIET: a broken node whose wrong answer is
    # late (a loaded box) looks conforming. So at most BROKEN_AT_ONCE nodes are played at
    # once, not all of them (about 120 cases in flight on 2 cores made such answers late).
    at_once = asyncio.Semaphore(BROKEN_AT_ONCE)

    async def one(node: NodeProc) -> list[CaseResult]:
        async with at_once:
            target = Target(node.addr(), timeout=TIMEOUT, quiet=QUIET, human=human)
            return await run_cases(cases, target, jobs=4)

    async def everyone() -> list[list[CaseResult]]:
        return await asyncio.gather(*(one(node) for node in fleet.broken.values()))

    runs = asyncio.run(everyone())
    return {
        flip: {r.case.name: r for r in results}
        for flip, results in zip(fleet.broken, runs, strict=True)
    }


def test_every_case_passes_against_the_node(fleet: Fleet) -> None:
    out = web4(
        "conformance", fleet.good.addr(), "--json", "--quiet-time", str(QUIET), "--jobs", "8",
        "--human-key", str(fleet.human), timeout=120,
    )  # fmt: skip
    doc = json.loads(out.stdout)
    failed = [(r["case"], r["seen"]) for r in doc["results"] if r["result"] != "pass"]
    assert not failed, failed
    assert out.returncode == 0, out.stderr
    assert doc["format"] == "web4-conformance/report/1"
    assert doc["runner"].startswith("web4 ")
    assert doc["summary"]["cases"] == len(catalogue()) == len(doc["results"])
    assert doc["summary"]["passed"] == len(catalogue())


@pytest.mark.parametrize("flip", sorted(BREAKS))
def test_a_broken_node_fails_exactly_the_cases_it_breaks(
    flip: str, fleet: Fleet, broken_results: dict[str, dict[str, CaseResult]]
) -> None:
    node = fleet.broken[flip]
    # a node that died mid-run fails every later case with "connection refused": say why
    # it died instead (its exit code and the end of its stderr)
    died = node.proc.poll()
    assert died is None, f"the {flip} node exited with {died}:\n{node.stderr()[-4000:]}"
    results = broken_results[flip]
    failed = {name for name, r in results.items() if r.outcome != "pass"}
    detail = {name: results[name].seen for name in failed ^ BREAKS[flip] if name in results}
    assert failed == BREAKS[flip], detail
    assert all(results[name].outcome == "fail" for name in failed), detail  # not "error"


def test_every_flip_is_listed_and_every_negative_case_is_caught() -> None:
    assert set(BREAKS) == set(FLIPS)
    negative = {c.name for c in catalogue() if c.kind == "negative"}
    rtt = {n for n in negative if n.startswith("rtt.")}
    caught = set().union(*BREAKS.values())
    assert negative - rtt <= caught, (negative - rtt) - caught
    assert caught <= {c.name for c in catalogue()}
    assert len(rtt) >= 10  # the wrong RTT peer below fails each of them


def test_the_rtt_negative_cases_fail_against_a_peer_that_answers_wrongly() -> None:
    peer = WrongRttPeer()
    try:
        cases = [c for c in select(catalogue(), ["rtt"]) if c.name != "rtt.session"]
        target = Target(peer.addr, timeout=TIMEOUT, quiet=QUIET)
        results = asyncio.run(run_cases(cases, target, jobs=8))
    finally:
        peer.stop()
    by_kind = {r.case.name: (r.case.kind, r.outcome, r.seen) for r in results}
    for name, (kind, outcome, seen) in by_kind.items():
        assert outcome == ("pass" if kind == "positive" else "fail"), (name, seen)
    assert {k for k, _, _ in by_kind.values()} == {"positive", "negative"}


def test_the_cli_reports_what_was_expected_and_seen_and_exits_1(fleet: Fleet) -> None:
    out = web4(
        "conformance", fleet.broken["receiver"].addr(), "--case", "rtt.session",
        "--case", "cip.hello.wrong_receiver", "--quiet-time", str(QUIET), timeout=60,
    )  # fmt: skip
    assert out.returncode == 1, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "PASS  rtt.session"
    assert lines[1].startswith("FAIL  cip.hello.wrong_receiver: expected no answer")
    assert "; seen an answer to the bad HELLO: HELLO on control" in lines[1]
    assert lines[2].startswith("2 cases against ")
    assert "1 passed, 1 failed, 0 errors" in lines[2]


def test_the_authorised_human_case_says_how_to_set_it_up(fleet: Fleet, tmp_path: Path) -> None:
    """Without --human-key, or with a key the target's operator did not authorise, the
    one case that needs it fails and says what to do."""
    stranger = tmp_path / "stranger"
    Identity.create_in_data_dir(stranger, "stranger")
    for extra in ([], ["--human-key", str(stranger)]):
        out = web4(
            "conformance", fleet.good.addr(), "--case", "hcp.hello.authorised", *extra,
            timeout=60,
        )  # fmt: skip
        assert out.returncode == 1, out.stdout + out.stderr
        line = out.stdout.splitlines()[0]
        assert line.startswith("FAIL  hcp.hello.authorised: "), line
        assert "web4 human-key add" in line
        assert "--human-key" in line
    assert "not authorised on the target" in line


def test_an_address_where_nothing_listens_is_one_line_and_exit_1(fleet: Fleet) -> None:
    peer_id = fleet.good.addr().rsplit("/p2p/", 1)[1]
    out = web4("conformance", f"/ip4/127.0.0.1/tcp/1/p2p/{peer_id}", timeout=60)
    assert out.returncode == 1
    assert out.stdout == ""
    assert out.stderr.startswith("web4 conformance: error: ")
    assert len(out.stderr.splitlines()) == 1


def test_usage_mistakes_exit_2() -> None:
    for argv in (
        ["conformance"],
        ["conformance", "/ip4/127.0.0.1/tcp/1"],  # no /p2p/
        ["conformance", "--list", "--case", "no.such.case"],
        ["conformance", "--profile", "nope", "--list"],
    ):
        out = subprocess.run(
            [sys.executable, "-m", "web4", *argv], capture_output=True, text=True, timeout=60
        )
        assert out.returncode == 2, (argv, out.stderr)
        assert out.stderr.startswith("web4 conformance: error: "), out.stderr
