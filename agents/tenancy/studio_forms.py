"""Studio forms of tenancy (members), and the helpers every app's Studio forms share.

Forms only parse input; the services validate the domain rules and save.
"""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError

from agents.tenancy.models import Role


def service_errors_to_form(form: forms.BaseForm, exc: ValidationError) -> None:
    """Show a service's ValidationError on the matching fields, the rest above the form."""
    if hasattr(exc, "error_dict"):
        for name, errors in exc.error_dict.items():
            messages = list(dict.fromkeys(m for e in errors for m in e.messages))
            form.add_error(name if name in form.fields else None, messages)
    else:
        form.add_error(None, exc.messages)


def lines(text: str) -> list[str]:
    """The non-blank lines of a textarea, stripped."""
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


# --- Members -----------------------------------------------------------------------------


class InviteForm(forms.Form):
    email = forms.EmailField(widget=forms.EmailInput(attrs={"autocomplete": "off"}))
    role = forms.ChoiceField(choices=Role.choices, initial=Role.VIEWER)


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)
