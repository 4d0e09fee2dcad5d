"""Input and output serializers of the phone-connectors API.

The Twilio auth token is write-only: it is encrypted on the way in and never sent back.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from agents.models import Agent, AgentVersion, Environment
from agents.serializers import WorkspacePrimaryKeyField, choice_field_class
from connectors.models import ConnectorKind, PhoneConnector, RolloutChange, VersionMode
from connectors.selectors import connector_resolve_version, rollout_change_list

ROLLOUT_CHANGES_SHOWN = 50

ConnectorKindField = choice_field_class(ConnectorKind, "ConnectorKind")


class PhoneConnectorInputSerializer(serializers.Serializer[None]):  # input only: no instance
    name = serializers.CharField(max_length=120)
    agent = WorkspacePrimaryKeyField(model=Agent)
    environment = WorkspacePrimaryKeyField(model=Environment)
    version_mode = serializers.ChoiceField(
        choices=VersionMode.choices, default=VersionMode.PUBLISHED
    )
    pinned_version = WorkspacePrimaryKeyField(
        model=AgentVersion,
        workspace_path="agent__workspace",
        required=False,
        allow_null=True,
        help_text="Id of a version of the chosen agent; only used in Pinned mode.",
    )
    twilio_account_sid = serializers.CharField(max_length=34)
    twilio_auth_token = serializers.CharField(
        write_only=True, trim_whitespace=True, style={"input_type": "password"}
    )
    enabled = serializers.BooleanField(default=True)


class PhoneConnectorUpdateInputSerializer(PhoneConnectorInputSerializer):
    """On update the auth token is optional: omit it to keep the stored one."""

    twilio_auth_token = serializers.CharField(
        write_only=True, required=False, trim_whitespace=True, style={"input_type": "password"}
    )


class AnsweringSerializer(serializers.Serializer[None]):  # documents get_answering's dict
    ok = serializers.BooleanField(help_text="Whether a call would be answered right now.")
    # A field named `label`: DRF's metaclass takes declared fields out of the class, but the
    # stub sees this as overriding Field.label (a string).
    label = serializers.CharField(  # type: ignore[assignment]
        help_text='"v3", "draft", or empty when nothing answers.'
    )
    reason = serializers.CharField()


class PhoneConnectorOutputSerializer(serializers.ModelSerializer[PhoneConnector]):
    kind = ConnectorKindField()
    pinned_version_label = serializers.CharField(
        source="pinned_version.label", allow_null=True, default=None
    )
    webhook_url = serializers.CharField()
    auth_token_set = serializers.SerializerMethodField()
    answering = serializers.SerializerMethodField()

    class Meta:
        model = PhoneConnector
        fields = [
            "id",
            "name",
            "kind",
            "agent",
            "environment",
            "version_mode",
            "pinned_version",
            "pinned_version_label",
            "identifier",
            "webhook_url",
            "twilio_account_sid",
            "auth_token_set",
            "enabled",
            "answering",
            "rollout_percent",
            "existing_line",
            "candidate_version",
            "candidate_percent",
            "created_at",
        ]
        read_only_fields = fields

    def get_auth_token_set(self, connector: PhoneConnector) -> bool:
        return bool(connector.twilio_auth_token_ciphertext)

    @extend_schema_field(AnsweringSerializer)
    def get_answering(self, connector: PhoneConnector) -> dict[str, Any]:
        resolution = connector_resolve_version(connector=connector)
        return {"ok": resolution.ok, "label": resolution.label, "reason": resolution.reason}


# Rollout ------------------------------------------------------------------------------------


class RolloutInputSerializer(serializers.Serializer[None]):
    rollout_percent = serializers.IntegerField(
        min_value=0, max_value=100, help_text="Share of callers the agent answers (0–100)."
    )
    existing_line = serializers.CharField(
        max_length=40,
        required=False,
        allow_blank=True,
        default="",
        help_text="E.164 number the other callers are dialled through to; needed below 100 %.",
    )
    candidate_version = WorkspacePrimaryKeyField(
        model=AgentVersion,
        workspace_path="agent__workspace",
        required=False,
        allow_null=True,
        default=None,
        help_text="A published version of the connector's agent to try on a share of callers.",
    )
    candidate_percent = serializers.IntegerField(
        min_value=0,
        max_value=100,
        default=0,
        help_text="Share of the agent's callers (0–100) the candidate answers, sticky per caller.",
    )


class RolloutChangeOutputSerializer(serializers.ModelSerializer[RolloutChange]):
    changed_by = serializers.CharField(source="changed_by_name")

    class Meta:
        model = RolloutChange
        fields = ["id", "changed_at", "changed_by", "before", "after"]
        read_only_fields = fields


class RolloutOutputSerializer(serializers.ModelSerializer[PhoneConnector]):
    candidate_version_label = serializers.CharField(
        source="candidate_version.label", allow_null=True, default=None
    )
    changes = serializers.SerializerMethodField()

    class Meta:
        model = PhoneConnector
        fields = [
            "rollout_percent",
            "existing_line",
            "candidate_version",
            "candidate_version_label",
            "candidate_percent",
            "changes",
        ]
        read_only_fields = fields

    @extend_schema_field(RolloutChangeOutputSerializer(many=True))
    def get_changes(self, connector: PhoneConnector) -> list[dict[str, Any]]:
        """The latest changes, newest first (the audit itself is never trimmed)."""
        changes = rollout_change_list(connector=connector)[:ROLLOUT_CHANGES_SHOWN]
        return list(RolloutChangeOutputSerializer(changes, many=True).data)
