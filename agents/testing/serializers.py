"""Input and output serializers of the agent tests API."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from agents.definitions.models import Brain
from agents.testing.models import AgentTestCase, AgentTestRun, RunStatus, RunTrigger
from agents.testing.outcomes import EXPECTABLE
from agents.testing.services import MAX_SAY, MAX_TURNS


class TurnSerializer(serializers.Serializer[None]):
    say = serializers.CharField(max_length=MAX_SAY, help_text="What the caller says.")
    expect = serializers.ChoiceField(
        choices=list(EXPECTABLE.items()), help_text="The outcome this turn must get."
    )
    target = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=120,
        help_text="What the outcome names (empty: any): a knowledge entry's index, an "
        "intent's name, a handover's or an action's name.",
    )


class CaseInputSerializer(serializers.Serializer[None]):
    name = serializers.CharField(max_length=120)
    turns = TurnSerializer(many=True, min_length=1, max_length=MAX_TURNS)  # type: ignore[call-arg]


class CaseOutputSerializer(serializers.ModelSerializer[AgentTestCase]):
    turns = TurnSerializer(many=True)

    class Meta:
        model = AgentTestCase
        fields = ["id", "name", "turns", "generated", "created_at", "updated_at"]


class GeneratedOutputSerializer(serializers.Serializer[dict[str, Any]]):
    added = CaseOutputSerializer(many=True, help_text="The cases added (none already there).")


class RunInputSerializer(serializers.Serializer[None]):
    version = serializers.IntegerField(
        required=False,
        allow_null=True,
        default=None,
        min_value=1,
        max_value=2**31 - 1,
        help_text="The version number to test; empty: the draft.",
    )
    brain = serializers.ChoiceField(
        choices=Brain.choices,
        required=False,
        allow_blank=True,
        default="",
        help_text="Run with this brain instead of the snapshot's own (to compare brains).",
    )


class TurnResultSerializer(serializers.Serializer[None]):
    heard = serializers.CharField()
    expected = serializers.CharField()
    expected_target = serializers.CharField()
    chosen = serializers.CharField()
    target = serializers.CharField()
    summary = serializers.CharField()
    said = serializers.CharField()
    passed = serializers.BooleanField()
    why = serializers.CharField()


class CaseResultSerializer(serializers.Serializer[None]):
    case_id = serializers.IntegerField(allow_null=True)
    name = serializers.CharField()
    passed = serializers.BooleanField()
    turns = TurnResultSerializer(many=True)


class RunOutputSerializer(serializers.ModelSerializer[AgentTestRun]):
    version = serializers.IntegerField(source="version_number", allow_null=True)
    status = serializers.ChoiceField(choices=RunStatus.choices)
    trigger = serializers.ChoiceField(choices=RunTrigger.choices)
    created_by = serializers.CharField(source="created_by.username", allow_null=True)
    baseline = serializers.IntegerField(source="baseline_id", allow_null=True)
    results = CaseResultSerializer(many=True)

    class Meta:
        model = AgentTestRun
        fields = [
            "id",
            "version",
            "brain",
            "trigger",
            "status",
            "passed",
            "total",
            "error",
            "baseline",
            "created_by",
            "created_at",
            "finished_at",
            "results",
        ]
