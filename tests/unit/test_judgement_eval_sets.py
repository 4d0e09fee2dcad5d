"""Issue 17: the evaluation sets of benchmarks/eval/ are well-formed and split by a fixed rule."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from benchmarks.eval_set import CASES_DIR, split_of

SETS = sorted(CASES_DIR.glob("*.json"))


def outcomes(agent: dict[str, Any]) -> set[str]:
    """Every outcome a case may name: knowledge:i, intent:name, handover:name, action:name."""
    names = {f"knowledge:{i}" for i in range(len(agent["knowledge"]))}
    names |= {f"intent:{i['name']}" for i in agent["intents"]}
    names |= {f"handover:{h['name']}" for h in agent["handover_actions"]}
    return names | {f"action:{a['name']}" for a in agent["actions"]}


def test_there_are_agents_of_several_businesses() -> None:
    assert {"nova_home", "dental", "garage", "demo"} <= {p.stem for p in SETS}


@pytest.mark.parametrize("path", SETS, ids=lambda p: p.stem)
def test_every_expected_outcome_exists_in_its_agent(path: Path) -> None:
    data = json.loads(path.read_text())
    known = outcomes(data["agent"])
    for case in data["cases"]:
        expect = case["expect"]
        answer = expect.get("answer")
        if isinstance(answer, int):
            assert f"knowledge:{answer}" in known, case
        elif isinstance(answer, str):
            assert f"intent:{answer}" in known, case
        for key in ("handover", "action"):
            if key in expect:
                assert f"{key}:{expect[key]}" in known, case
        for option in expect.get("clarify", []):
            assert option in known, case
        assert set(expect) <= {
            "answer",
            "handover",
            "action",
            "end_call",
            "clarify",
            "not_understood",
        }


@pytest.mark.parametrize("name", ["dental", "garage"])
def test_the_new_agents_have_forty_cases_in_both_splits(name: str) -> None:
    cases = json.loads((CASES_DIR / f"{name}.json").read_text())["cases"]
    splits = [split_of(c) for c in cases]
    assert len(cases) >= 40 and splits.count("tune") >= 15 and splits.count("report") >= 15


def test_the_split_depends_only_on_what_the_caller_says() -> None:
    case = {"text": "and on saturday?", "before": ["what are your opening hours"]}
    assert split_of(case) == split_of({**case, "expect": {"answer": 3}, "category": "x"})
    assert {split_of({"text": f"case {i}"}) for i in range(20)} == {"tune", "report"}
