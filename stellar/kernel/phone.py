"""E.164 phone numbers: validation and normalisation with `phonenumbers`, and the destination
policy for every number we dial or text (`check_destination`)."""

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


# Number types no call or text of ours may reach: the caller pays them, or they are billed at
# rates set by whoever runs the range (toll fraud).
REFUSED_NUMBER_TYPES = {
    phonenumbers.PhoneNumberType.PREMIUM_RATE: "a premium-rate number",
    phonenumbers.PhoneNumberType.SHARED_COST: "a shared-cost number",
    phonenumbers.PhoneNumberType.PERSONAL_NUMBER: "a personal (forwarding) number",
    phonenumbers.PhoneNumberType.UAN: "a universal access number",
}
# North America, the United Kingdom and Ireland, Western Europe and the Nordics, Australia and
# New Zealand: the markets the product is sold in, none a known toll-fraud destination.
DEFAULT_DESTINATION_COUNTRIES: tuple[str, ...] = ("US", "CA", "GB", "IE", "NL", "BE", "LU")
DEFAULT_DESTINATION_COUNTRIES += ("DE", "AT", "CH", "FR", "ES", "PT", "IT", "DK", "SE", "NO")
DEFAULT_DESTINATION_COUNTRIES += ("FI", "AU", "NZ")


def allowed_destination_countries() -> frozenset[str]:
    """STELLAR_ALLOWED_DESTINATION_COUNTRIES (ISO 3166 region codes) from settings."""
    from django.conf import settings  # kernel modules stay importable without Django configured

    codes = getattr(settings, "STELLAR_ALLOWED_DESTINATION_COUNTRIES", None)
    if codes is None:
        codes = DEFAULT_DESTINATION_COUNTRIES
    return frozenset(str(code).strip().upper() for code in codes if str(code).strip())


def check_destination(value: str) -> str:
    """The number as E.164 if we may dial or text it: a valid number in an allowed country and
    not premium-rate, shared-cost, personal or UAN; otherwise a ValidationError saying why."""
    e164 = normalize_e164(value)
    number = phonenumbers.parse(e164, None)
    region = phonenumbers.region_code_for_number(number) or "?"
    if region not in allowed_destination_countries():
        raise ValidationError(
            f"{e164} is in a country ({region}) that calls and texts may not reach; the "
            "operator allows: " + ", ".join(sorted(allowed_destination_countries())) + ".",
            code="country_not_allowed",
        )
    kind = REFUSED_NUMBER_TYPES.get(phonenumbers.number_type(number))
    if kind is not None:
        raise ValidationError(
            f"{e164} is {kind}: calls and texts never go to such numbers.",
            code="number_type_refused",
        )
    return e164


def validate_destination(value: str) -> None:
    """A model/form validator for numbers we dial or text."""
    check_destination(value)
