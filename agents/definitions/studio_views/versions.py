"""The Versions tab: publish the draft with a note, unpublish / republish, restore into the
draft, lock, and the diff between two versions (or a version and the draft)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_POST

from agents.definitions.models import Agent, AgentVersion, VersionStatus
from agents.definitions.selectors import agent_version_list
from agents.definitions.studio_forms import DiffForm, PublishForm
from agents.definitions.studio_views.drafts import agent_for, draft_state
from agents.definitions.version_diff import snapshot_diff
from agents.definitions.versions import (
    agent_publish,
    agent_restore,
    agent_snapshot,
    publish_reports,
    version_lock,
    version_republish,
    version_unpublish,
)
from agents.tenancy.access import StudioRequest, studio_view
from agents.tenancy.models import Role

VERSION_OPERATIONS = {
    "unpublish": (version_unpublish, "{label} unpublished. {next}"),
    "republish": (version_republish, "{label} published again."),
    "lock": (version_lock, "{label} locked: it can no longer be unpublished or deleted."),
}


def next_live_after_unpublish(version: AgentVersion, versions: Sequence[AgentVersion]) -> str:
    """What answers once `version` is unpublished, said before (to confirm) and after."""
    published = sorted(
        (v for v in versions if v.status == VersionStatus.PUBLISHED),
        key=lambda v: v.number,
        reverse=True,
    )
    pinned = " Connectors pinned to it refuse calls."
    if not published or published[0] != version:
        live = published[0].label if published else "no version"
        return f"{live} stays live for connectors in Published mode.{pinned}"
    rest = published[1:]
    if rest:
        return f"Connectors in Published mode will answer with {rest[0].label} from the next call."
    return (
        "No published version is left: connectors in Published mode will refuse calls until "
        "you publish again."
    )


def _version_rows(versions: Sequence[AgentVersion]) -> list[tuple[AgentVersion, str]]:
    """Each version with the confirmation its Unpublish button asks (empty when unpublished)."""
    return [
        (
            v,
            f"Unpublish {v.label}? {next_live_after_unpublish(v, versions)}"
            if v.status == VersionStatus.PUBLISHED
            else "",
        )
        for v in versions
    ]


def _diff_context(
    agent: Agent, versions: Sequence[AgentVersion], params: Mapping[str, str]
) -> dict[str, Any]:
    """The diff form and the diff it asks for (default: the newest version against the draft)."""
    by_number = {str(v.number): v for v in versions}
    numbers = list(by_number)
    if len(numbers) > 1:
        default_a, default_b = numbers[1], numbers[0]
    else:
        default_a, default_b = (numbers[0] if numbers else "draft"), "draft"
    a = params.get("a") or default_a
    b = params.get("b") or default_b
    form = DiffForm(initial={"a": a, "b": b}, versions=versions)

    def side(key: str) -> tuple[str, dict[str, Any]]:
        if key == "draft":
            return "Draft", agent_snapshot(agent=agent)
        version = by_number.get(key)
        if version is None:
            raise Http404("No such version.")
        return version.label, version.snapshot

    (a_label, a_snap), (b_label, b_snap) = side(a), side(b)
    return {
        "diff_form": form,
        "diff": snapshot_diff(a_snap, b_snap),
        "a_label": a_label,
        "b_label": b_label,
    }


@require_GET
@studio_view(write_role=Role.EDITOR)
def version_list_view(request: StudioRequest, agent_id: int) -> HttpResponse:
    agent = agent_for(request, agent_id)
    versions = list(agent_version_list(agent=agent))
    context = {
        "agent": agent,
        "versions": versions,
        "publish_form": PublishForm(),
        "version_rows": _version_rows(versions),
        "tab": "versions",
        **draft_state(agent),
        **_diff_context(agent, versions, request.GET),
    }
    return render(request, "studio/agents/versions.html", context)


@require_GET
@studio_view(write_role=Role.EDITOR)
def version_diff_view(request: StudioRequest, agent_id: int) -> HttpResponse:
    """The diff panel alone (htmx swaps it in when the From / To selects change)."""
    agent = agent_for(request, agent_id)
    versions = list(agent_version_list(agent=agent))
    context = {"agent": agent, **_diff_context(agent, versions, request.GET)}
    if not request.htmx:
        url = reverse("studio:version-list", kwargs={"agent_id": agent.pk})
        return redirect(
            f"{url}?{urlencode({'a': request.GET.get('a', ''), 'b': request.GET.get('b', '')})}#diff"
        )
    return render(request, "studio/agents/_diff.html", context)


@require_POST
@studio_view(write_role=Role.EDITOR)
def version_publish_view(request: StudioRequest, agent_id: int) -> HttpResponse:
    agent = agent_for(request, agent_id)
    form = PublishForm(request.POST)
    if form.is_valid():
        try:
            version = agent_publish(agent=agent, note=form.cleaned_data["note"], user=request.user)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(
                request,
                f"Published {version.label}. Connectors in Published mode answer with it from "
                "the next call.",
            )
            for line in publish_reports(version=version):
                messages.info(request, line)
    return redirect("studio:version-list", agent_id=agent.pk)


@require_POST
@studio_view(write_role=Role.EDITOR)
def version_operation_view(
    request: StudioRequest, agent_id: int, version_id: int, operation: str
) -> HttpResponse:
    agent = agent_for(request, agent_id)
    version = get_object_or_404(AgentVersion, pk=version_id, agent=agent)
    try:
        if operation == "restore":
            agent_restore(agent=agent, version=version)
            messages.success(
                request, f"{version.label} restored into the draft. Publish to put it live."
            )
            return redirect("studio:agent-draft", agent_id=agent.pk)
        if operation not in VERSION_OPERATIONS:
            raise Http404("No such operation.")
        service, message = VERSION_OPERATIONS[operation]
        following = next_live_after_unpublish(version, list(agent_version_list(agent=agent)))
        service(version=version)
        messages.success(request, message.format(label=version.label, next=following))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect("studio:version-list", agent_id=agent.pk)
