"""Input and output serializers of the handover-actions API.

Phone numbers are validated and normalised to E.164 by the model's full_clean() in the service,
so the API and the admin give the same "include the country code" message.
"""

from rest_framework import serializers

from agents.serializers import choice_field_class
from handovers.models import SNAPSHOT_FIELDS, Fallback, HandoverAction, HandoverKind

HandoverKindField = choice_field_class(HandoverKind, "HandoverKind")


class HandoverActionInputSerializer(serializers.Serializer[None]):  # input only: no instance
    name = serializers.CharField(max_length=63)
    description = serializers.CharField()
    kind = HandoverKindField(default=HandoverKind.PHONE)
    destination = serializers.CharField(
        max_length=40,
        required=False,
        allow_blank=True,
        help_text="E.164 with the country code, e.g. +31201234567.",
    )
    extra_destinations = serializers.ListField(
        child=serializers.CharField(max_length=40), required=False
    )
    caller_id = serializers.CharField(max_length=40, required=False, allow_blank=True)
    ring_timeout = serializers.IntegerField(min_value=5, max_value=600, required=False)
    fallback = serializers.ChoiceField(choices=Fallback.choices, required=False)
    handover_message = serializers.CharField(max_length=300, required=False, allow_blank=True)
    flow_sid = serializers.CharField(max_length=34, required=False, allow_blank=True)
    whisper = serializers.BooleanField(
        required=False,
        help_text="Phone handovers: whisper who is calling and why to the person who answers.",
    )


class HandoverActionOutputSerializer(serializers.ModelSerializer[HandoverAction]):
    kind = HandoverKindField()
    extra_destinations = serializers.ListField(child=serializers.CharField())

    class Meta:
        model = HandoverAction
        fields = ["id", *SNAPSHOT_FIELDS]
        read_only_fields = fields
