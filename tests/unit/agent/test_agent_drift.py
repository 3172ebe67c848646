"""Mission scoring and the drift detector (pure)."""

from __future__ import annotations

import pytest

from web4.agent import DriftAlarm, DriftDetector, Realigned, TokenOverlapScorer
from web4.agent.drift import tokens
from web4.errors import ConfigError

MISSION = "Verify scientific facts about climate and share verified knowledge with trusted peers"


def test_tokens_are_normalised():
    assert tokens("The Facts, verified!") == {"fact", "verify"}
    assert tokens("facts") == tokens("fact")
    assert tokens("studies") == tokens("study")
    assert tokens("a an the of") == frozenset()


def test_overlap_and_jaccard_scores():
    s = TokenOverlapScorer()
    on = s.score(MISSION, "verify climate fact from peer")
    off = s.score(MISSION, "buy cryptocurrency tokens for profit")
    assert on >= 0.75
    assert off == 0.0
    j = TokenOverlapScorer("jaccard")
    assert 0 < j.score(MISSION, "verify climate fact") < on
    assert s.score(MISSION, "") == 0.0
    assert s.score("", "anything") == 0.0
    with pytest.raises(ConfigError):
        TokenOverlapScorer("cosine")  # type: ignore[arg-type]


def test_steady_stream_never_fires_even_with_one_outlier():
    d = DriftDetector(window=5, threshold=0.3, sustain=3)
    scores = [0.8, 0.9, 0.7, 0.0, 0.8, 0.9, 0.6, 0.0, 0.7, 0.8] * 3
    assert [d.observe(x) for x in scores] == [None] * len(scores)
    assert not d.drifting


def test_sustained_drop_fires_once_then_realigns():
    d = DriftDetector(window=4, threshold=0.3, sustain=3)
    for x in (0.8, 0.8, 0.8, 0.8):
        assert d.observe(x) is None
    signals = [d.observe(0.0) for _ in range(10)]
    alarms = [s for s in signals if isinstance(s, DriftAlarm)]
    assert len(alarms) == 1
    first = signals.index(alarms[0])
    # window average: 0.6, 0.4, 0.2 (below: 1), 0.0 (2), 0.0 (3) -> alarm on the 5th low one
    assert first == 4
    assert alarms[0].average < 0.3
    assert alarms[0].consecutive == 3
    assert d.drifting
    back = [d.observe(0.9) for _ in range(4)]
    assert any(isinstance(s, Realigned) for s in back)
    assert not d.drifting


def test_detector_config_and_score_range():
    with pytest.raises(ConfigError):
        DriftDetector(window=0)
    with pytest.raises(ConfigError):
        DriftDetector(sustain=0)
    with pytest.raises(ConfigError):
        DriftDetector(threshold=1.5)
    with pytest.raises(ConfigError):
        DriftDetector().observe(1.2)
    assert DriftDetector().average is None
