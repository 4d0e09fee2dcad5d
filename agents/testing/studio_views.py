"""The Tests tab: an agent's test cases (generated ones marked), run them on the draft with
one click, the last run's pass rate and each failure with what was heard and chosen."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from agents.definitions.models import Agent
from agents.definitions.studio_views.drafts import agent_for, draft_state
from agents.definitions.versions import agent_snapshot
from agents.tenancy.access import StudioRequest, studio_view
from agents.tenancy.models import Role
from agents.tenancy.studio_forms import service_errors_to_form
from agents.testing import selectors, services
from agents.testing.models import AgentTestCase, AgentTestRun, RunStatus
from agents.testing.outcomes import EXPECTABLE
from agents.testing.runner import run_start, run_summary
from agents.testing.studio_forms import (
    CaseForm,
    TurnFormSet,
    expectation_choices,
    turn_lines,
    turns_initial,
)


def _run_context(agent: Agent, run: AgentTestRun | None) -> dict[str, Any]:
    """The run panel: its summary, failures with the expectation in words, and whether the
    page should poll it (a queued or running LLM run)."""
    if run is None:
        return {"agent": agent, "run": None}
    failures = [
        {
            **result,
            "turns": [
                {**t, "expected_text": EXPECTABLE.get(t["expected"], t["expected"])}
                for t in result["turns"]
            ],
        }
        for result in run.failures
    ]
    return {
        "agent": agent,
        "run": run,
        "summary": run_summary(run),
        "failures": failures,
        "pending": run.status in (RunStatus.QUEUED, RunStatus.RUNNING),
    }


@require_GET
@studio_view(write_role=Role.EDITOR)
def tests_view(request: StudioRequest, agent_id: int) -> HttpResponse:
    agent = agent_for(request, agent_id)
    if request.studio.can_write:
        seeded = services.cases_seed_once(agent=agent)
        if seeded:
            messages.info(
                request,
                f"Generated {len(seeded)} tests from the agent's intents and knowledge; "
                "check their expectations.",
            )
    snapshot = agent_snapshot(agent=agent)
    last = selectors.last_draft_run(agent=agent)
    results = {r["case_id"]: r["passed"] for r in last.results} if last else {}
    cases = [
        (case, turn_lines(case.turns, snapshot), results.get(case.pk))
        for case in selectors.case_list(agent=agent)
    ]
    context = {
        "agent": agent,
        "tab": "tests",
        "cases": cases,
        "any_generated": any(case.generated for case, _, _ in cases),
        "runs": selectors.run_list(agent=agent)[:8],
        **_run_context(agent, last),
        **draft_state(agent),
    }
    return render(request, "studio/agents/tests.html", context)


@require_POST
@studio_view(write_role=Role.EDITOR)
def tests_run_view(request: StudioRequest, agent_id: int) -> HttpResponse:
    """Run the suite on the draft, then show the tab with its results (an LLM-brain run's
    panel polls until the worker has finished)."""
    agent = agent_for(request, agent_id)
    try:
        run_start(agent=agent, user=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect("studio:agent-tests", agent_id=agent.pk)


@require_GET
@studio_view(write_role=Role.EDITOR)
def tests_run_panel(request: StudioRequest, agent_id: int, run_id: int) -> HttpResponse:
    """htmx: a run's panel, polled while an LLM-brain run is queued or running."""
    agent = agent_for(request, agent_id)
    run = get_object_or_404(selectors.run_list(agent=agent), pk=run_id)
    return render(request, "studio/agents/_tests_run.html", _run_context(agent, run))


@require_POST
@studio_view(write_role=Role.EDITOR)
def tests_generate_view(request: StudioRequest, agent_id: int) -> HttpResponse:
    agent = agent_for(request, agent_id)
    added = services.cases_generate(agent=agent)
    if added:
        messages.success(request, f"Generated {len(added)} tests; check their expectations.")
    else:
        messages.info(request, "Nothing new to generate: every generated test is already here.")
    return redirect("studio:agent-tests", agent_id=agent.pk)


def _case_form(request: StudioRequest, agent: Agent, case: AgentTestCase | None) -> HttpResponse:
    data = request.POST if request.method == "POST" else None
    form = CaseForm(data, initial={"name": case.name} if case else None)
    turns = TurnFormSet(
        data,
        prefix="turns",
        initial=turns_initial(case.turns) if case else None,
        form_kwargs={"choices": expectation_choices(agent_snapshot(agent=agent))},
    )
    if request.method == "POST" and form.is_valid() and turns.is_valid():
        rows = [t for f in turns.forms if (t := f.turn()) is not None]
        try:
            if case is None:
                case = services.case_create(agent=agent, name=form.cleaned_data["name"], turns=rows)
            else:
                services.case_update(case=case, name=form.cleaned_data["name"], turns=rows)
        except ValidationError as exc:
            service_errors_to_form(form, exc)
        else:
            messages.success(request, f"Test “{case.name}” saved. Run the tests to see it.")
            return redirect("studio:agent-tests", agent_id=agent.pk)
    context = {
        "agent": agent,
        "case": case,
        "form": form,
        "turns": turns,
        "tab": "tests",
        **draft_state(agent),
    }
    status = 400 if form.errors or turns.total_error_count() else 200
    return render(request, "studio/agents/tests_case_form.html", context, status=status)


@require_http_methods(["GET", "POST"])
@studio_view(write_role=Role.EDITOR)
def test_case_create_view(request: StudioRequest, agent_id: int) -> HttpResponse:
    return _case_form(request, agent_for(request, agent_id), None)


@require_http_methods(["GET", "POST"])
@studio_view(write_role=Role.EDITOR)
def test_case_edit_view(request: StudioRequest, agent_id: int, case_id: int) -> HttpResponse:
    agent = agent_for(request, agent_id)
    case = get_object_or_404(selectors.case_list(agent=agent), pk=case_id)
    return _case_form(request, agent, case)


@require_POST
@studio_view(write_role=Role.EDITOR)
def test_case_delete_view(request: StudioRequest, agent_id: int, case_id: int) -> HttpResponse:
    agent = agent_for(request, agent_id)
    case = get_object_or_404(selectors.case_list(agent=agent), pk=case_id)
    services.case_delete(case=case)
    messages.success(request, f"Test “{case.name}” deleted.")
    return redirect("studio:agent-tests", agent_id=agent.pk)
