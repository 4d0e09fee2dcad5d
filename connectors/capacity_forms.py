"""The capacity card's form on the connector page: caps and the overflow rule. The service
(connectors.capacity.connector_capacity_set) checks the number against the dialling policy."""

from __future__ import annotations

from django import forms

from connectors.capacity import MAX_CAP, MAX_OVERFLOW_MESSAGE
from connectors.models import OverflowAction


class CapacityForm(forms.Form):
    max_concurrent_calls = forms.IntegerField(
        label="Most live calls on this connector",
        min_value=1,
        max_value=MAX_CAP,
        required=False,
        help_text="Empty: no cap. Past it, callers get the overflow rule.",
    )
    workspace_max_concurrent_calls = forms.IntegerField(
        label="Most live calls in the workspace",
        min_value=1,
        max_value=MAX_CAP,
        required=False,
        help_text="All connectors together. Empty: no cap. Admins change it.",
    )
    overflow_action = forms.ChoiceField(
        label="Callers past the cap",
        choices=OverflowAction.choices,
        widget=forms.RadioSelect,
        help_text="Also when the servers are too busy to answer well.",
    )
    overflow_number = forms.CharField(
        label="Forward to",
        max_length=40,
        required=False,
        help_text="E.164, e.g. +31201234567.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "inputmode": "tel"}),
    )
    overflow_message = forms.CharField(
        label="Message",
        max_length=MAX_OVERFLOW_MESSAGE,
        required=False,
        help_text="Said before hanging up. Empty: a polite default.",
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def __init__(self, *args, can_admin: bool, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        if not can_admin:
            self.fields["workspace_max_concurrent_calls"].disabled = True
