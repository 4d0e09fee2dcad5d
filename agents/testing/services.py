"""Writes of test cases: validated turns, and the generated starting suite."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from agents.definitions.models import Agent
from agents.definitions.versions import agent_snapshot
from agents.testing.models import AgentTestCase
from agents.testing.outcomes import EXPECTABLE, target_choices
from agents.testing.seeding import generated_cases

MAX_TURNS = 10
MAX_SAY = 500


def turns_clean(*, agent: Agent, turns: Any) -> list[dict[str, str]]:
    """The turns as stored, or a ValidationError saying what is wrong: each turn needs words,
    an outcome the tests know and, when it names one, a target the agent has."""
    if not isinstance(turns, list) or not turns:
        raise ValidationError({"turns": "A test needs at least one caller turn."})
    if len(turns) > MAX_TURNS:
        raise ValidationError({"turns": f"A test has at most {MAX_TURNS} turns."})
    targets = {(o, t) for o, t, _ in target_choices(agent_snapshot(agent=agent))}
    clean = []
    for n, turn in enumerate(turns, start=1):
        if not isinstance(turn, dict):
            raise ValidationError({"turns": f"Turn {n} is not an object."})
        say = str(turn.get("say") or "").strip()
        expect = str(turn.get("expect") or "")
        target = str(turn.get("target") or "")
        if not say or len(say) > MAX_SAY:
            raise ValidationError({"turns": f"Turn {n} needs what the caller says (1–{MAX_SAY})."})
        if expect not in EXPECTABLE:
            raise ValidationError(
                {"turns": f"Turn {n} expects {expect!r}: use one of {', '.join(EXPECTABLE)}."}
            )
        if target and (expect, target) not in targets:
            raise ValidationError(
                {"turns": f"Turn {n}: this agent has no {EXPECTABLE[expect].lower()} {target!r}."}
            )
        clean.append({"say": say, "expect": expect, "target": target})
    return clean


def case_create(*, agent: Agent, name: str, turns: Any, generated: bool = False) -> AgentTestCase:
    name = name.strip()
    if not name:
        raise ValidationError({"name": "A test needs a name."})
    return AgentTestCase.objects.create(
        agent=agent,
        name=name[:120],
        turns=turns_clean(agent=agent, turns=turns),
        generated=generated,
    )


def case_update(*, case: AgentTestCase, **changes: Any) -> AgentTestCase:
    if "name" in changes:
        name = str(changes["name"] or "").strip()
        if not name:
            raise ValidationError({"name": "A test needs a name."})
        case.name = name[:120]
    if "turns" in changes:
        case.turns = turns_clean(agent=case.agent, turns=changes["turns"])
    case.generated = False  # edited by a person now
    case.save()
    return case


def case_delete(*, case: AgentTestCase) -> None:
    case.delete()


@transaction.atomic
def cases_generate(*, agent: Agent) -> list[AgentTestCase]:
    """Add the generated suite for the agent's draft, skipping cases it already has (same
    words); returns the cases added."""
    snapshot = agent_snapshot(agent=agent)
    existing = {
        tuple(t.get("say", "").lower() for t in c.turns)
        for c in AgentTestCase.objects.filter(agent=agent)
    }
    added = []
    for case in generated_cases(snapshot):
        key = tuple(t["say"].lower() for t in case["turns"])
        if key not in existing:
            existing.add(key)
            added.append(
                AgentTestCase.objects.create(
                    agent=agent, name=case["name"], turns=case["turns"], generated=True
                )
            )
    return added


def cases_seed_once(*, agent: Agent) -> list[AgentTestCase]:
    """The generated suite for an agent that has never had tests (first visit of its Tests
    tab); nothing when it has or had some (a person deleting them all is respected)."""
    if agent.test_cases.exists() or agent.test_runs.exists():
        return []
    if not agent.knowledge and not agent.intents:  # nothing to paraphrase yet
        return []
    return cases_generate(agent=agent)
