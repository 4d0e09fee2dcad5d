"""Masking secret values in everything spoken, stored or logged, in the forms they may take.

Templates cannot transform a secret (`secret_slots`), but an API's response, an LLM or an
error message can echo one back changed: upper or lower case, reversed, spelled out with
separators, base64- or URL-encoded, or JSON-escaped. Each of those forms is masked too.
"""

from __future__ import annotations

import base64
import json
from typing import Any, TypeVar
from urllib.parse import quote, quote_plus

MASK = "••••••"
# Separators a value is spelled out with ("s 3 c r 3 t", "s-3-c-r-3-t", "s, 3, c, …").
SPELLING_SEPARATORS = (" ", "-", ".", ",", ", ", "\n", "_", "")
_T = TypeVar("_T")


def secret_forms(secret: str) -> set[str]:
    """`secret` as written and in every transformed form this module masks."""
    cases = {secret, secret.upper(), secret.lower(), secret[::-1]}
    cases |= {c[::-1] for c in cases}
    forms: set[str] = set()
    for case in cases:
        forms.add(case)
        forms.update(sep.join(case) for sep in SPELLING_SEPARATORS)
        forms.update((quote(case, safe=""), quote_plus(case), json.dumps(case)[1:-1]))
    raw = secret.encode()
    for encoded in (base64.b64encode(raw), base64.urlsafe_b64encode(raw)):
        text = encoded.decode()
        forms.update((text, text.rstrip("=")))
    return {f for f in forms if f}


def redact(value: _T, secrets: dict[str, str]) -> _T:
    """`value` with every secret value in its strings (nested dicts/lists/tuples, keys too), in
    any of its `secret_forms`, replaced by "••••••"; longest first, so a form containing
    another is fully masked."""
    forms: set[str] = set()
    for secret in secrets.values():
        if secret:
            forms |= secret_forms(str(secret))
    needles = sorted(forms, key=len, reverse=True)
    if not needles:
        return value
    redacted: _T = _redact(value, needles)  # same shape: str → str, dict → dict, …
    return redacted


def _redact(value: Any, needles: list[str]) -> Any:
    if isinstance(value, str):
        for needle in needles:
            if needle in value:
                value = value.replace(needle, MASK)
        return value
    if isinstance(value, dict):
        return {_redact(k, needles): _redact(v, needles) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(item, needles) for item in value]
    if isinstance(value, tuple):
        return tuple(_redact(item, needles) for item in value)
    return value
