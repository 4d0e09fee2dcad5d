"""The rollout's pure decisions (connectors.rollout): share, arm, stickiness — no database."""

from __future__ import annotations

import math

import pytest

from connectors.rollout import (
    Arm,
    RolloutSettings,
    caller_key,
    position,
    reaches_agent,
    rollout_decide,
    rollout_describe,
)

LINE = "+31201112233"


def settings(
    share: int = 100, line: str = LINE, candidate: int = 0, has_candidate: bool = False
) -> RolloutSettings:
    return RolloutSettings(
        rollout_percent=share,
        existing_line=line,
        candidate_percent=candidate,
        has_candidate=has_candidate,
    )


def callers(n: int) -> list[str]:
    return [caller_key(from_number=f"+1555{i:07d}", call_sid="CAx") for i in range(n)]


def within_binomial(count: int, n: int, p: float, sds: float = 4.0) -> bool:
    """Within `sds` standard deviations of n·p (4 sd: a false alarm about once in 16 000)."""
    return abs(count - n * p) <= sds * math.sqrt(n * p * (1 - p))


def test_a_caller_is_placed_by_number_and_a_withheld_number_by_the_call():
    assert caller_key(from_number=" +15550001111 ", call_sid="CA1") == "from:+15550001111"
    for withheld in ("", "anonymous", "Restricted", "+266696687"):
        assert caller_key(from_number=withheld, call_sid="CA1") == "call:CA1"


def test_the_same_caller_gets_the_same_place_every_time():
    key = caller_key(from_number="+15550001111", call_sid="CA1")
    first = position(connector_id=7, key=key, purpose="share")
    assert all(position(connector_id=7, key=key, purpose="share") == first for _ in range(5))
    assert 0 <= first < 100


def test_positions_differ_per_connector_and_per_purpose():
    keys = callers(200)
    share = [position(connector_id=1, key=k, purpose="share") for k in keys]
    assert share != [position(connector_id=2, key=k, purpose="share") for k in keys]
    assert share != [position(connector_id=1, key=k, purpose="arm") for k in keys]


@pytest.mark.parametrize("percent", [10, 30, 50, 90])
def test_a_share_takes_about_that_share_of_many_callers(percent):
    n = 10_000
    hits = sum(reaches_agent(connector_id=3, key=k, rollout_percent=percent) for k in callers(n))
    assert within_binomial(hits, n, percent / 100), hits


def test_the_share_and_the_arm_are_independent():
    """Among the agent's callers the candidate gets its share too (not a biased slice)."""
    keys = callers(10_000)
    to_agent = [k for k in keys if reaches_agent(connector_id=4, key=k, rollout_percent=30)]
    config = settings(share=30, candidate=50, has_candidate=True)
    candidates = sum(
        rollout_decide(connector_id=4, key=k, settings=config).arm == Arm.CANDIDATE
        for k in to_agent
    )
    assert within_binomial(candidates, len(to_agent), 0.5), (candidates, len(to_agent))


def test_raising_the_share_only_adds_callers():
    keys = callers(2000)
    at_20 = {k for k in keys if reaches_agent(connector_id=5, key=k, rollout_percent=20)}
    at_40 = {k for k in keys if reaches_agent(connector_id=5, key=k, rollout_percent=40)}
    assert at_20 < at_40


def test_zero_and_hundred_percent_are_absolute():
    keys = callers(500)
    assert not any(
        rollout_decide(connector_id=6, key=k, settings=settings(0)).to_agent for k in keys
    )
    assert all(rollout_decide(connector_id=6, key=k, settings=settings(100)).to_agent for k in keys)


def test_without_an_existing_line_the_agent_answers_rather_than_nobody():
    decisions = [
        rollout_decide(connector_id=6, key=k, settings=settings(0, line="")) for k in callers(50)
    ]
    assert all(d.to_agent and d.arm == Arm.CURRENT for d in decisions)


def test_no_candidate_means_every_agent_caller_gets_the_current_version():
    config = settings(candidate=60, has_candidate=False)
    arms = {rollout_decide(connector_id=8, key=k, settings=config).arm for k in callers(300)}
    assert arms == {Arm.CURRENT}


def test_existing_line_callers_have_no_arm():
    config = settings(share=0, candidate=50, has_candidate=True)
    decision = rollout_decide(connector_id=9, key=callers(1)[0], settings=config)
    assert not decision.to_agent and decision.arm is None


def test_an_audited_state_reads_as_one_line():
    state = {
        "rollout_percent": 30,
        "existing_line": LINE,
        "candidate_version": {"id": 4, "label": "v4"},
        "candidate_percent": 10,
    }
    assert rollout_describe(state) == f"30 % to the agent, rest to {LINE}; candidate v4 on 10 %"
    assert rollout_describe({}) == "—"
    assert rollout_describe({"rollout_percent": 100}) == "100 % to the agent; no candidate"
