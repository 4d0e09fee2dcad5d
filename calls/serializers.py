"""Output serializers of the calls API (read-only) and its list filters."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from agents.serializers import choice_field_class
from calls.models import (
    Call,
    CallEvent,
    CallStatus,
    Recording,
    TranscriptSegment,
    WebhookDelivery,
)

CallStatusField = choice_field_class(CallStatus, "CallStatus")
MAX_ID = 2**63 - 1  # the largest primary key (bigint)


class CallFilterSerializer(serializers.Serializer[None]):  # input only: no instance
    status = CallStatusField(required=False)
    # Bounded like the ids themselves: a larger number would overflow the SQL parameter (a 500).
    connector = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_ID, help_text="Phone connector id."
    )
    agent = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_ID, help_text="Agent id."
    )


class CallOutputSerializer(serializers.ModelSerializer[Call]):
    status = CallStatusField()

    class Meta:
        model = Call
        fields = [
            "id",
            "call_sid",
            "status",
            "source",
            "direction",
            "from_number",
            "to_number",
            "connector",
            "agent",
            "agent_version",
            "version_label",
            "environment",
            "outcome",
            "transferred_to",
            "created_at",
            "answered_at",
            "ended_at",
            "duration_seconds",
        ]
        read_only_fields = fields


class CallEventOutputSerializer(serializers.ModelSerializer[CallEvent]):
    class Meta:
        model = CallEvent
        fields = ["at", "kind", "message", "data"]
        read_only_fields = fields


class TranscriptSegmentOutputSerializer(serializers.ModelSerializer[TranscriptSegment]):
    class Meta:
        model = TranscriptSegment
        fields = ["speaker", "start_ms", "end_ms", "text", "interrupted"]
        read_only_fields = fields


class RecordingOutputSerializer(serializers.ModelSerializer[Recording]):
    class Meta:
        model = Recording
        fields = ["duration_ms", "size_bytes", "channels", "sha256", "created_at"]
        read_only_fields = fields


class WebhookDeliveryOutputSerializer(serializers.ModelSerializer[WebhookDelivery]):
    class Meta:
        model = WebhookDelivery
        fields = [
            "delivery_id",
            "event",
            "attempt",
            "manual",
            "url",
            "status",
            "response_code",
            "error",
            "duration_ms",
            "next_retry_at",
            "created_at",
        ]
        read_only_fields = fields


class CallDetailOutputSerializer(CallOutputSerializer):
    events = CallEventOutputSerializer(many=True)
    segments = TranscriptSegmentOutputSerializer(many=True)
    recording = serializers.SerializerMethodField()
    extracted = serializers.JSONField(
        help_text="The agent's extraction fields filled after the call: {name: value or null}."
    )
    webhook_deliveries = WebhookDeliveryOutputSerializer(many=True)

    class Meta(CallOutputSerializer.Meta):
        fields = [
            *CallOutputSerializer.Meta.fields,
            "summary",
            "ivr_params",
            "events",
            "segments",
            "recording",
            "extracted",
            "extracted_by",
            "extracted_at",
            "webhook_deliveries",
        ]
        read_only_fields = fields

    def get_recording(self, call: Call) -> dict[str, Any] | None:
        recording = getattr(call, "recording", None)
        return RecordingOutputSerializer(recording).data if recording else None


class ResendOutputSerializer(serializers.Serializer[None]):
    queued = serializers.BooleanField()
