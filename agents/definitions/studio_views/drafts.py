"""Agents list, new agent, and the draft editor (with its knowledge and intents lists)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.forms import BaseFormSet
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from agents.definitions.models import Agent
from agents.definitions.selectors import (
    action_names,
    agent_list_with_latest_version,
    handover_names,
    latest_published_version,
)
from agents.definitions.studio_forms import (
    AgentCreateForm,
    AgentDraftForm,
    IntentForm,
    IntentFormSet,
    KnowledgeForm,
    KnowledgeFormSet,
    formset_rows,
    intents_initial,
    knowledge_initial,
)
from agents.definitions.version_diff import snapshot_text
from agents.definitions.versions import (
    agent_create,
    agent_delete,
    agent_snapshot,
    agent_update_draft,
)
from agents.tenancy.access import StudioRequest, studio_view
from agents.tenancy.models import Role
from agents.tenancy.studio_forms import service_errors_to_form

DRAFT_FORM_FIELDS = tuple(AgentDraftForm.base_fields)


def agent_for(request: StudioRequest, agent_id: int) -> Agent:
    """The agent of the request's workspace (404 for another workspace's); the request is the
    one a `studio_view` received."""
    return get_object_or_404(Agent, pk=agent_id, workspace=request.studio.workspace)


def draft_state(agent: Agent) -> dict[str, Any]:
    """The latest published version and whether the draft differs from the newest version."""
    newest = agent.versions.order_by("-number").first()
    changed = newest is None or snapshot_text(agent_snapshot(agent=agent)) != snapshot_text(
        newest.snapshot
    )
    return {
        "published": latest_published_version(agent=agent),
        "newest": newest,
        "unpublished_changes": changed,
    }


@require_GET
@studio_view(write_role=Role.EDITOR)
def agent_list_view(request: StudioRequest) -> HttpResponse:
    agents = agent_list_with_latest_version(workspace=request.studio.workspace)
    return render(request, "studio/agents/list.html", {"agents": agents, "form": AgentCreateForm()})


@require_POST
@studio_view(write_role=Role.EDITOR)
def agent_create_view(request: StudioRequest) -> HttpResponse:
    form = AgentCreateForm(request.POST)
    if form.is_valid():
        try:
            agent = agent_create(workspace=request.studio.workspace, **form.cleaned_data)
        except ValidationError as exc:
            service_errors_to_form(form, exc)
        else:
            messages.success(request, f"{agent.name} created. Write its greeting and prompt.")
            return redirect("studio:agent-draft", agent_id=agent.pk)
    agents = agent_list_with_latest_version(workspace=request.studio.workspace)
    return render(request, "studio/agents/list.html", {"agents": agents, "form": form}, status=400)


@require_http_methods(["GET", "POST"])
@studio_view(write_role=Role.EDITOR)
def agent_draft_view(request: StudioRequest, agent_id: int) -> HttpResponse:
    agent = agent_for(request, agent_id)
    names = action_names(agent=agent)
    data = request.POST if request.method == "POST" else None
    form = AgentDraftForm(
        data,
        initial={f: getattr(agent, f) for f in DRAFT_FORM_FIELDS},
        handover_names=handover_names(agent=agent),
    )
    knowledge = KnowledgeFormSet(
        data, prefix="knowledge", initial=knowledge_initial(agent.knowledge)
    )
    intents = IntentFormSet(
        data,
        prefix="intents",
        initial=intents_initial(agent.intents),
        form_kwargs={"action_names": names},
    )
    if request.method == "POST" and all(
        [form.is_valid(), knowledge.is_valid(), intents.is_valid()]
    ):
        try:
            agent_update_draft(
                agent=agent,
                **form.cleaned_data,
                knowledge=[
                    {"question": f.cleaned_data["question"], "answer": f.cleaned_data["answer"]}
                    for f in formset_rows(knowledge)
                ],
                intents=[f.intent() for f in formset_rows(intents)],
            )
        except ValidationError as exc:
            agent.refresh_from_db()
            service_errors_to_form(form, exc)
        else:
            messages.success(request, "Draft saved. Publish it on Versions to put it live.")
            return redirect("studio:agent-draft", agent_id=agent.pk)
    return render(
        request,
        "studio/agents/draft.html",
        {
            "agent": agent,
            "form": form,
            "knowledge": knowledge,
            "intents": intents,
            "tab": "draft",
            **draft_state(agent),
        },
        status=400
        if form.errors or knowledge.total_error_count() or intents.total_error_count()
        else 200,
    )


@require_GET
@studio_view(write_role=Role.EDITOR)
def agent_draft_row(request: StudioRequest, agent_id: int, kind: str) -> HttpResponse:
    """htmx: one more empty knowledge or intent row, and the formset's new TOTAL_FORMS."""
    agent = agent_for(request, agent_id)
    total = request.GET.get(f"{kind}-TOTAL_FORMS", "0")
    index = int(total) if total.isdigit() and int(total) < 500 else 0
    formset: BaseFormSet[KnowledgeForm] | BaseFormSet[IntentForm]
    if kind == "knowledge":
        formset = KnowledgeFormSet(prefix=kind)
    elif kind == "intents":
        formset = IntentFormSet(
            prefix=kind, form_kwargs={"action_names": action_names(agent=agent)}
        )
    else:
        raise Http404("No such list.")
    row = formset.empty_form  # has the Remove checkbox; give it the next index
    row.prefix = formset.add_prefix(index)
    return render(
        request,
        f"studio/agents/_{kind}_row.html",
        {"row": row, "index": index, "total": index + 1, "prefix": kind, "oob": True},
    )


@require_POST
@studio_view(write_role=Role.EDITOR)
def agent_delete_view(request: StudioRequest, agent_id: int) -> HttpResponse:
    agent = agent_for(request, agent_id)
    try:
        agent_delete(agent=agent)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("studio:agent-draft", agent_id=agent.pk)
    messages.success(request, f"{agent.name} deleted.")
    return redirect("studio:agent-list")
