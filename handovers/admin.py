"""Admin of handover actions; the model's clean() validates and normalises E.164 numbers."""

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError

from agents.definitions.versions import action_full_clean
from handovers.models import SNAPSHOT_FIELDS, HandoverAction


class HandoverActionForm(forms.ModelForm[HandoverAction]):
    class Meta:
        model = HandoverAction
        fields = ["agent", *SNAPSHOT_FIELDS]

    # `_post_clean` (builds the instance) and `_update_errors` are Django's private form hooks,
    # which django-stubs leaves out.
    def _post_clean(self) -> None:
        super()._post_clean()  # type: ignore[misc]  # the model's clean() normalises to E.164
        if self.errors:
            return
        try:  # and the name must not be used by one of the agent's other actions
            action_full_clean(action=self.instance)
        except ValidationError as exc:
            self._update_errors(exc)  # type: ignore[attr-defined]


@admin.register(HandoverAction)
class HandoverActionAdmin(admin.ModelAdmin[HandoverAction]):
    form = HandoverActionForm
    list_display = ["name", "agent", "kind", "destination", "fallback"]
    list_filter = ["kind", "fallback"]
    search_fields = ["name", "destination", "agent__name"]
