"""The agent's Data tab: the extraction fields filled in after each call (calls.postcall).

The fields are part of the draft, so they are published (and versioned) with it.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from agents.definitions.extraction_fields import FIELD_TYPES, NAME_PATTERN
from agents.definitions.models import Agent
from agents.definitions.studio_views.drafts import agent_for, draft_state
from agents.definitions.versions import agent_update_draft
from agents.tenancy.access import StudioRequest, studio_view
from agents.tenancy.models import Role


class ExtractionFieldForm(forms.Form):
    original = forms.CharField(required=False, widget=forms.HiddenInput)
    name = forms.RegexField(
        NAME_PATTERN,
        max_length=40,
        help_text="A slug, e.g. appointment_date: the key in the API and the webhook.",
        error_messages={"invalid": "Use lowercase letters, digits and _, starting with a letter."},
    )
    type = forms.ChoiceField(choices=list(FIELD_TYPES.items()))
    description = forms.CharField(
        max_length=300,
        required=False,
        help_text="What to fill in, e.g. “the day the caller wants to come in”.",
    )
    options = forms.CharField(
        max_length=2000,
        required=False,
        help_text="For a choice: the options, separated by commas.",
    )

    def field_value(self) -> dict[str, Any]:
        data = self.cleaned_data
        options = [o.strip() for o in data["options"].split(",") if o.strip()]
        return {
            "name": data["name"],
            "type": data["type"],
            "description": data["description"],
            "options": options if data["type"] == "choice" else [],
        }


def _page(
    request: StudioRequest, agent: Agent, form: ExtractionFieldForm | None, status: int = 200
) -> HttpResponse:
    fields = [
        (
            field,
            ExtractionFieldForm(
                initial={
                    **field,
                    "original": field["name"],
                    "options": ", ".join(field["options"]),
                },
                prefix=f"f-{field['name']}",
            ),
        )
        for field in agent.extraction_fields
    ]
    context = {
        "agent": agent,
        "tab": "data",
        "fields": fields,
        "form": form or ExtractionFieldForm(prefix="new"),
        "type_names": FIELD_TYPES,
        **draft_state(agent),
    }
    return render(request, "studio/agents/data.html", context, status=status)


@require_http_methods(["GET", "POST"])
@studio_view(write_role=Role.EDITOR)
def data_view(request: StudioRequest, agent_id: int) -> HttpResponse:
    """GET: the fields. POST: add a field, or change the one named `original`."""
    agent = agent_for(request, agent_id)
    if request.method == "GET":
        return _page(request, agent, None)
    prefix = request.POST.get("prefix", "new")
    form = ExtractionFieldForm(request.POST, prefix=prefix)
    if not form.is_valid():
        return _page(request, agent, form, status=400)
    original = form.cleaned_data["original"]
    new = form.field_value()
    if original:
        fields = [new if f["name"] == original else f for f in agent.extraction_fields]
    else:
        fields = [*agent.extraction_fields, new]
    try:
        agent_update_draft(agent=agent, extraction_fields=fields)
    except ValidationError as exc:
        agent.refresh_from_db()
        problems = exc.message_dict.get("extraction_fields", exc.messages)
        form.add_error(None, " ".join(problems))
        return _page(request, agent, form, status=400)
    messages.success(request, f"Field {new['name']} saved in the draft; publish to use it.")
    return redirect("studio:agent-data", agent_id=agent.pk)


@require_POST
@studio_view(write_role=Role.EDITOR)
def data_field_delete_view(request: StudioRequest, agent_id: int, name: str) -> HttpResponse:
    agent = agent_for(request, agent_id)
    fields = [f for f in agent.extraction_fields if f["name"] != name]
    if len(fields) != len(agent.extraction_fields):
        agent_update_draft(agent=agent, extraction_fields=fields)
        messages.success(request, f"Field {name} removed from the draft.")
    return redirect("studio:agent-data", agent_id=agent.pk)
