"""REST API of analytics: GET /analytics/ returns the dashboard's numbers for the filters
(the Studio page's, as query parameters). One object, not a list: a plain APIView, since the
schema generator declares a viewset's `list` as a paginated array."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from agents.tenancy.permissions import EditorWrites, WorkspaceScopedMixin
from calls.analytics.dashboard import Dashboard, dashboard_build
from calls.analytics.queries import (
    EARLIEST,
    LATEST,
    MAX_RANGE_DAYS,
    OUTCOMES,
    Percentiles,
    Summary,
)
from calls.selectors import call_list
from calls.serializers import MAX_ID
from connectors.models import PhoneConnector

OUTCOME_HELP = "One of: " + ", ".join(f"{key} ({label})" for key, label in OUTCOMES) + "."


class AnalyticsFilterSerializer(serializers.Serializer[None]):  # input only
    connector = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID)
    agent = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID)
    environment = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID)
    version = serializers.CharField(required=False, max_length=20, help_text="v3, or draft.")
    date_from = serializers.DateField(
        required=False, help_text="First day (UTC); default: 13 days before date_to."
    )
    date_to = serializers.DateField(required=False, help_text="Last day (UTC); default: today.")
    compare_a = serializers.CharField(required=False, max_length=20, help_text="A version.")
    compare_b = serializers.CharField(required=False, max_length=20, help_text="A version.")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        first, last = attrs.get("date_from"), attrs.get("date_to")
        for name, day in (("date_from", first), ("date_to", last)):
            if day is not None and not EARLIEST <= day <= LATEST:
                raise serializers.ValidationError({name: "Choose a day from 2000 to 2999."})
        if first and last and first > last:
            raise serializers.ValidationError({"date_to": "Must be on or after date_from."})
        if first and last and (last - first).days >= MAX_RANGE_DAYS:
            raise serializers.ValidationError(
                {"date_from": f"The range may span at most {MAX_RANGE_DAYS} days."}
            )
        return attrs


class PercentilesSerializer(serializers.Serializer[Percentiles]):
    p50 = serializers.IntegerField(allow_null=True)
    p95 = serializers.IntegerField(allow_null=True)
    samples = serializers.IntegerField()


class OutcomeShareSerializer(serializers.Serializer[Any]):
    key = serializers.CharField(help_text=OUTCOME_HELP)
    name = serializers.CharField(source="label")
    count = serializers.IntegerField()
    percent = serializers.FloatField(help_text="Of all calls.")


class HandoverShareSerializer(serializers.Serializer[Any]):
    destination = serializers.CharField(source="key")
    count = serializers.IntegerField()
    percent = serializers.FloatField(help_text="Of the calls that reached the agent.")


class ErrorKindSerializer(serializers.Serializer[Any]):
    kind = serializers.CharField()
    count = serializers.IntegerField()

    def to_representation(self, instance: Any) -> dict[str, Any]:
        kind, count = instance
        return {"kind": kind, "count": count}


class SummarySerializer(serializers.Serializer[Summary]):
    calls = serializers.IntegerField()
    served = serializers.IntegerField(help_text="Calls that reached the agent.")
    handed_over = serializers.IntegerField()
    handover_rate = serializers.FloatField(help_text="Percent of the served calls.")
    outcomes = OutcomeShareSerializer(many=True)
    handovers = HandoverShareSerializer(many=True)
    duration_s = PercentilesSerializer()
    latency_ms = PercentilesSerializer(help_text="Turn latency (turn_timing events).")
    turns = serializers.IntegerField(help_text="Timed agent answers.")
    barge_ins = serializers.IntegerField()
    overflows = serializers.IntegerField(help_text="Calls turned away past capacity.")
    hold_lines = serializers.IntegerField(help_text="Late answers covered by the holding line.")
    input_errors = serializers.IntegerField()
    input_error_kinds = ErrorKindSerializer(many=True)


class BucketSerializer(serializers.Serializer[Any]):
    start = serializers.DateTimeField()
    total = serializers.IntegerField()
    counts = serializers.DictField(child=serializers.IntegerField(), help_text="By outcome key.")


class VersionCountSerializer(serializers.Serializer[Any]):
    version = serializers.CharField()
    calls = serializers.IntegerField()

    def to_representation(self, instance: Any) -> dict[str, Any]:
        label, n = instance
        return {"version": label, "calls": n}


class ComparisonSerializer(serializers.Serializer[Any]):
    a = serializers.CharField()
    b = serializers.CharField()
    summary_a = SummarySerializer()
    summary_b = SummarySerializer()


class AnalyticsOutputSerializer(serializers.Serializer[Dashboard]):
    date_from = serializers.DateField(source="span.first")
    date_to = serializers.DateField(source="span.last")
    unit = serializers.ChoiceField(choices=["hour", "day", "week"], source="series.unit")
    summary = SummarySerializer()
    series = BucketSerializer(many=True, source="series.buckets")
    versions = VersionCountSerializer(many=True)
    comparison = ComparisonSerializer(allow_null=True)


class AnalyticsView(WorkspaceScopedMixin, APIView):
    """Outcomes, handovers, durations, turn latency, barge-ins and input errors of the
    workspace's calls over a date range, per hour/day/week, and two versions side by side."""

    permission_classes = [IsAuthenticated, EditorWrites]

    @extend_schema(
        operation_id="analytics_retrieve",
        parameters=[AnalyticsFilterSerializer],
        responses=AnalyticsOutputSerializer,
    )
    def get(self, request: Request) -> Response:
        filters = AnalyticsFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        data = filters.validated_data
        calls = call_list(
            workspace=self.workspace,
            filters={
                "connector_id": data.get("connector"),
                "agent_id": data.get("agent"),
                "environment_id": data.get("environment"),
            },
        )
        connector = None
        if data.get("connector"):
            connector = (
                PhoneConnector.objects.filter(workspace=self.workspace, pk=data["connector"])
                .select_related("candidate_version")
                .first()
            )
        board = dashboard_build(
            calls=calls,
            date_from=data.get("date_from"),
            date_to=data.get("date_to"),
            version=data.get("version", "").strip(),
            compare=(data.get("compare_a", "").strip(), data.get("compare_b", "").strip()),
            connector=connector,
        )
        return Response(AnalyticsOutputSerializer(board).data)
