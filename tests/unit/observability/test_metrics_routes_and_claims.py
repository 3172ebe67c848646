"""/metrics is served on /metrics only, and claims are counted once per state."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest

from support.metrics import counter
from web4.observability import Observability


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:  # loopback only
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


@pytest.mark.parametrize("path", ["/", "/metric", "/metrics/", "/favicon.ico", "/x/metrics"])
def test_metrics_server_answers_404_on_any_path_but_metrics(path: str) -> None:
    obs = Observability.open("n", metrics_port=0)
    try:
        assert obs.server is not None
        base = f"http://127.0.0.1:{obs.server.port}"
        status, body = _get(base + path)
        assert status == 404
        assert "web4_" not in body
        status, body = _get(base + "/metrics")
        assert status == 200
        assert "web4_events_total" in body
        status, body = _get(base + "/metrics?name[]=web4_agent_lri")  # a query is fine
        assert status == 200
    finally:
        obs.close()


def test_knowledge_claims_total_counts_each_claim_once_per_state(obs: Observability) -> None:
    for claim in ("c1", "c2"):
        for has in (0, 1):  # pending, then pending with one more confirmation
            obs.bus.emit("knowledge.claim_pending", msg_id=claim, claim_id=claim, has=has)
    obs.bus.emit("knowledge.claim_accepted", msg_id="c1", claim_id="c1", has=2)
    obs.bus.emit("knowledge.claim_accepted", msg_id="c1", claim_id="c1", has=2)
    assert counter(obs, "web4_knowledge_claims", "state") == {"pending": 2, "accepted": 1}
