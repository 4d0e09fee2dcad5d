"""E.164 phone numbers: validation and normalisation with `phonenumbers`."""

import phonenumbers
from django.core.exceptions import ValidationError

COUNTRY_CODE_HINT = (
    "Include the country code in E.164 format, e.g. +31201234567 "
    "(a plus sign, the country code, then the number without its leading 0)."
)


def normalize_e164(value: str) -> str:
    """Return the number as E.164 or raise a ValidationError that says how to fix it."""
    raw = (value or "").strip()
    if not raw:
        raise ValidationError("Enter a phone number. " + COUNTRY_CODE_HINT, code="required")
    if not raw.startswith("+") and not raw.startswith("00"):
        raise ValidationError(
            f"“{raw}” has no country code. " + COUNTRY_CODE_HINT, code="no_country_code"
        )
    if raw.startswith("00"):
        raw = "+" + raw[2:]
    try:
        number = phonenumbers.parse(raw, None)
    except phonenumbers.NumberParseException as exc:
        raise ValidationError(f"“{raw}” is not a phone number. " + COUNTRY_CODE_HINT) from exc
    if not phonenumbers.is_valid_number(number):
        raise ValidationError(
            f"“{raw}” is not a valid number for its country. " + COUNTRY_CODE_HINT, code="invalid"
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def validate_e164(value: str) -> None:
    normalize_e164(value)
