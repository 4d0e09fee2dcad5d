"""Run an agent's test cases: each case on a fresh Conversation of a snapshot (the draft's
or a version's), actions in dry run, every turn judged against what it expects.

`suite_run` is the plain engine part (no database); `run_start` / `run_execute` record a run
(embedded runs inline, LLM runs through agents.testing.tasks); `publish_check` runs the suite
on every publish and compares it with the version that was live until then.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from agents.actions.context import CallContext
from agents.config.llm import llm_missing, llm_settings
from agents.config.selectors import environment_list, environment_values
from agents.definitions.models import Agent, AgentVersion, Brain, VersionStatus
from agents.definitions.versions import agent_snapshot
from agents.engine import Conversation
from agents.engine.events import EndCall, Handover, Speak, TurnEvent
from agents.testing.models import AgentTestCase, AgentTestRun, RunStatus, RunTrigger
from agents.testing.outcomes import Chosen, chosen_from_events, judge

logger = logging.getLogger(__name__)
TEST_CALL = {"from": "+10000000000", "to": "+10000000001", "sid": "TEST", "digits": ""}


# ---- the engine part: no database -----------------------------------------------------------


async def case_run(
    snapshot: dict[str, Any], turns: list[dict[str, Any]], ctx: CallContext
) -> dict[str, Any]:
    """One case on a fresh conversation: every turn's result; the case passes when all do.
    A turn after the call ended (handover, goodbye) fails: the caller was no longer there."""
    conversation = Conversation(snapshot, ctx)
    results: list[dict[str, Any]] = []
    ended = False
    for turn in turns:
        expect, target = turn.get("expect", ""), turn.get("target", "")
        if ended:
            results.append(_turn_result(turn, None, False, "the call had already ended"))
            continue
        events: list[TurnEvent] = [e async for e in conversation.turn(turn.get("say", ""))]
        chosen = chosen_from_events(events, snapshot)
        for event in events:  # what the caller heard goes into the history, as on a call
            if isinstance(event, Speak):
                conversation.agent_heard(event.text, interrupted=False)
        passed, why = judge(expect, target, chosen)
        results.append(_turn_result(turn, chosen, passed, why))
        ended = any(isinstance(e, Handover | EndCall) for e in events)
    return {"passed": all(r["passed"] for r in results), "turns": results}


def _turn_result(
    turn: dict[str, Any], chosen: Chosen | None, passed: bool, why: str
) -> dict[str, Any]:
    return {
        "heard": turn.get("say", ""),
        "expected": turn.get("expect", ""),
        "expected_target": turn.get("target", ""),
        "chosen": chosen.outcome if chosen else "",
        "target": chosen.target if chosen else "",
        "summary": chosen.summary if chosen else "",
        "said": chosen.said if chosen else "",
        "passed": passed,
        "why": why,
    }


def suite_run(
    snapshot: dict[str, Any], cases: Iterable[AgentTestCase | dict[str, Any]], ctx: CallContext
) -> list[dict[str, Any]]:
    """Every case's result, in order: {"case_id", "name", "passed", "turns"}."""
    items = [
        (c.pk, c.name, c.turns) if isinstance(c, AgentTestCase) else (None, c["name"], c["turns"])
        for c in cases
    ]

    async def run_all() -> list[dict[str, Any]]:
        out = []
        for case_id, name, turns in items:
            result = await case_run(snapshot, turns, ctx)
            out.append({"case_id": case_id, "name": name, **result})
        return out

    return asyncio.run(run_all())


# ---- recorded runs -----------------------------------------------------------------------


def suite_snapshot(*, agent: Agent, version_number: int | None) -> dict[str, Any]:
    """The draft's snapshot, or the version's (ValidationError when it does not exist)."""
    if version_number is None:
        return agent_snapshot(agent=agent)
    version = AgentVersion.objects.filter(agent=agent, number=version_number).first()
    if version is None:
        raise ValidationError(f"{agent.name} has no version {version_number}.")
    snapshot: dict[str, Any] = version.snapshot
    return snapshot


def test_context(*, agent: Agent, snapshot: dict[str, Any]) -> CallContext:
    """A dry-run call context: the values of the workspace's first environment that has the
    LLM settings (for an LLM snapshot), else its development environment."""
    environments = list(environment_list(workspace=agent.workspace))
    llm_model = str(snapshot.get("llm_model") or "")
    environment = next(
        (
            e
            for e in environments
            if snapshot.get("brain") == Brain.LLM
            and not llm_missing(environment=e, llm_model=llm_model)
        ),
        next((e for e in environments if e.kind == "development"), None),
    )
    if environment is None:
        return CallContext(call=dict(TEST_CALL), dry_run=True)
    values = environment_values(environment=environment)
    llm = llm_settings(
        llm_model=llm_model, variables=values["variables"], secrets=values["secrets"]
    )
    return CallContext(
        call=dict(TEST_CALL),
        variables=values["variables"],
        secrets=values["secrets"],
        secret_hosts=values["secret_hosts"],
        environment=environment.kind,
        llm=llm.as_context(),
        dry_run=True,
    )


def run_start(
    *,
    agent: Agent,
    version_number: int | None = None,
    brain: str = "",
    trigger: str = RunTrigger.MANUAL,
    user: Any = None,
    baseline: AgentTestRun | None = None,
    inline: bool = False,
) -> AgentTestRun:
    """Record a run and carry it out: inline for the embedded brain (or when `inline`, as
    the command does), queued for the LLM brain (its turns wait on a model over the
    network). `brain` overrides the snapshot's."""
    snapshot = suite_snapshot(agent=agent, version_number=version_number)
    brain = brain or str(snapshot.get("brain") or Brain.EMBEDDED)
    if brain not in Brain.values:
        raise ValidationError(f"Unknown brain {brain!r}: use one of {', '.join(Brain.values)}.")
    if not AgentTestCase.objects.filter(agent=agent).exists():
        raise ValidationError(f"{agent.name} has no tests yet: add or generate some first.")
    run = AgentTestRun.objects.create(
        agent=agent,
        version_number=version_number,
        brain=brain,
        trigger=trigger,
        created_by=user if getattr(user, "is_authenticated", False) else None,
        baseline=baseline,
    )
    if brain == Brain.EMBEDDED or inline:
        return run_execute(run_id=run.pk)
    from agents.testing.tasks import run_agent_tests  # it imports this module

    transaction.on_commit(lambda: run_agent_tests.delay(run.pk))
    return run


def run_execute(*, run_id: int) -> AgentTestRun:
    """Carry out a recorded run (idempotent: a finished run is returned as it is)."""
    run = AgentTestRun.objects.select_related("agent__workspace").get(pk=run_id)
    if run.status in (RunStatus.DONE, RunStatus.ERROR):
        return run
    run.status = RunStatus.RUNNING
    run.save(update_fields=["status"])
    try:
        snapshot = {
            **suite_snapshot(agent=run.agent, version_number=run.version_number),
            "brain": run.brain,
        }
        ctx = test_context(agent=run.agent, snapshot=snapshot)
        results = suite_run(snapshot, AgentTestCase.objects.filter(agent=run.agent), ctx)
    except ValidationError as exc:
        run.status, run.error = RunStatus.ERROR, " ".join(exc.messages)
    except Exception as exc:  # a broken run is shown on the Tests tab, never a 500
        logger.exception("agent test run %s failed", run.pk)
        run.status, run.error = RunStatus.ERROR, f"The run failed ({type(exc).__name__})."
    else:
        run.status, run.results = RunStatus.DONE, results
        run.total, run.passed = len(results), sum(1 for r in results if r["passed"])
    run.finished_at = timezone.now()
    run.save(update_fields=["status", "error", "results", "total", "passed", "finished_at"])
    return run


# ---- on publish ---------------------------------------------------------------------------


def publish_run(version: AgentVersion, user: Any) -> None:
    """Run the suite on a version just published, and on the version live until then (the
    same cases, so the two pass counts compare). Never stops the publish: a failure is logged
    and the report says the tests did not run."""
    agent = version.agent
    if not AgentTestCase.objects.filter(agent=agent).exists():
        return
    live = (
        AgentVersion.objects.filter(agent=agent, status=VersionStatus.PUBLISHED)
        .exclude(pk=version.pk)
        .order_by("-number")
        .first()
    )
    try:
        with transaction.atomic():
            baseline = None
            if live is not None:
                baseline = run_start(
                    agent=agent, version_number=live.number, trigger=RunTrigger.PUBLISH, user=user
                )
            run_start(
                agent=agent,
                version_number=version.number,
                trigger=RunTrigger.PUBLISH,
                user=user,
                baseline=baseline,
            )
    except Exception:
        logger.exception("agent tests on publishing %s v%s failed", agent.pk, version.number)


def publish_report(version: AgentVersion) -> str:
    """One line for whoever published: "18/20 tests passed (live version v3: 16/20); newly
    failing: …" ("" when the agent has no tests)."""
    run = (
        AgentTestRun.objects.filter(
            agent=version.agent, version_number=version.number, trigger=RunTrigger.PUBLISH
        )
        .select_related("baseline")
        .first()
    )
    if run is None:
        if AgentTestCase.objects.filter(agent=version.agent).exists():
            return "The tests did not run on this version; run them on the Tests tab."
        return ""
    return run_summary(run)


def run_summary(run: AgentTestRun) -> str:
    """The run's pass count in words, against its baseline when it has one."""
    if run.status == RunStatus.ERROR:
        return f"The tests on {run.target_label} could not run: {run.error}"
    if run.status != RunStatus.DONE:
        return f"The tests on {run.target_label} are running with the {run.brain} brain."
    line = f"{run.passed}/{run.total} tests passed on {run.target_label}"
    base = run.baseline
    if base is not None and base.status == RunStatus.DONE:
        line += f" (live version {base.target_label}: {base.passed}/{base.total})"
        was_passing = {r["case_id"] for r in base.results if r["passed"]}
        newly = [r["name"] for r in run.results if not r["passed"] and r["case_id"] in was_passing]
        if newly:
            line += f"; newly failing: {', '.join(newly[:5])}"
            line += f" and {len(newly) - 5} more" if len(newly) > 5 else ""
    return line + "."
