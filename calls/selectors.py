"""Reads of the calls app, scoped to a workspace or a connector."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db.models import QuerySet

from agents.models import Workspace
from calls.models import Call
from connectors.models import PhoneConnector


def call_for_connector(*, connector: PhoneConnector, call_sid: str) -> Call | None:
    return Call.objects.filter(connector=connector, call_sid=call_sid).first()


def call_with_connector(*, call_id: int) -> Call | None:
    return (
        Call.objects.select_related("connector", "workspace", "environment")
        .filter(pk=call_id)
        .first()
    )


def call_list(*, workspace: Workspace, filters: Mapping[str, Any] | None = None) -> QuerySet[Call]:
    qs = Call.objects.filter(workspace=workspace).select_related("connector", "agent_version")
    filters = filters or {}
    for key in ("status", "connector_id", "agent_id", "environment_id", "source"):
        if filters.get(key):
            qs = qs.filter(**{key: filters[key]})
    return qs


def call_detail(*, workspace: Workspace, call_id: int) -> Call | None:
    """One call of the workspace with its timeline, transcript and recording."""
    return (
        Call.objects.filter(workspace=workspace, pk=call_id)
        .select_related("connector", "agent_version", "recording")
        .prefetch_related("events", "segments")
        .first()
    )
