"""Input and output serializers of the phone-connectors API.

The Twilio auth token is write-only: it is encrypted on the way in and never sent back.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from agents.models import Agent, AgentVersion, Environment
from agents.serializers import WorkspacePrimaryKeyField, choice_field_class
from connectors.models import ConnectorKind, PhoneConnector, VersionMode
from connectors.selectors import connector_resolve_version

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
            "created_at",
        ]
        read_only_fields = fields

    def get_auth_token_set(self, connector: PhoneConnector) -> bool:
        return bool(connector.twilio_auth_token_ciphertext)

    @extend_schema_field(AnsweringSerializer)
    def get_answering(self, connector: PhoneConnector) -> dict[str, Any]:
        resolution = connector_resolve_version(connector=connector)
        return {"ok": resolution.ok, "label": resolution.label, "reason": resolution.reason}
