"""Studio form of handover actions. It only parses input; handovers.services validates
(phone numbers to E.164, the agent's one namespace of action names) and saves."""

from __future__ import annotations

from typing import Any

from django import forms

from agents.tenancy.studio_forms import lines
from handovers.models import Fallback, HandoverAction, HandoverKind


class HandoverForm(forms.Form):
    name = forms.RegexField(
        regex=r"^[a-z][a-z0-9_]{0,62}$",
        max_length=63,
        help_text="Lowercase letters, digits and underscores, like transfer_to_sales.",
        error_messages={"invalid": "Use lowercase letters, digits and underscores."},
    )
    description = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="When the agent should hand the caller over.",
    )
    destination = forms.CharField(
        max_length=40,
        help_text="With the country code, e.g. +31201234567.",
        widget=forms.TextInput(attrs={"inputmode": "tel", "autocomplete": "off"}),
    )
    caller_id = forms.CharField(
        label="Caller ID",
        max_length=40,
        required=False,
        help_text="Shown to the person who answers; empty uses the number the caller dialled.",
        widget=forms.TextInput(attrs={"inputmode": "tel"}),
    )
    ring_timeout = forms.IntegerField(
        label="Ring timeout (seconds)", min_value=5, max_value=600, initial=20
    )
    fallback = forms.ChoiceField(
        label="If nobody answers", choices=Fallback.choices, initial=Fallback.HANGUP
    )
    extra_destinations = forms.CharField(
        label="Extra destinations",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="One number per line, tried in order when the fallback is “next destination”.",
    )
    handover_message = forms.CharField(
        label="Handover line",
        max_length=300,
        required=False,
        initial="Please hold while I transfer your call.",
        help_text="What the agent says before transferring.",
    )
    whisper = forms.BooleanField(
        label="Whisper a summary to the person who answers",
        required=False,
        help_text=(
            "Before the caller is connected, only the person who answers hears who is calling "
            "and why."
        ),
    )
    flow_sid = forms.CharField(
        label="Studio Flow SID",
        max_length=34,
        help_text="The flow to return to, FW followed by 32 hex characters.",
    )

    PHONE_ONLY = (
        "destination",
        "caller_id",
        "ring_timeout",
        "fallback",
        "extra_destinations",
        "whisper",
    )

    def __init__(self, *args: Any, kind: str, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.kind = kind
        drop = ("flow_sid",) if kind == HandoverKind.PHONE else self.PHONE_ONLY
        for name in drop:
            del self.fields[name]

    def handover_fields(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        if "extra_destinations" in data:
            data["extra_destinations"] = lines(data["extra_destinations"])
        return {"kind": self.kind, **data}

    @staticmethod
    def initial_for(handover: HandoverAction) -> dict[str, Any]:
        fields = ("name", "description", "destination", "caller_id", "ring_timeout")
        initial = {f: getattr(handover, f) for f in fields}
        initial.update(
            fallback=handover.fallback,
            extra_destinations="\n".join(handover.extra_destinations),
            handover_message=handover.handover_message,
            flow_sid=handover.flow_sid,
            whisper=handover.whisper,
        )
        return initial
