"""Extraction by the agent's LLM: one chat completion asking for a JSON object, validated
field by field against the field types. Anything unusable falls back to the rules
(calls.postcall.extraction): a field at a time when only some values are bad, the whole call
when the model cannot be reached or answers no JSON object.

The request goes through the egress policy like the LLM brain's own (stellar.kernel.egress).
"""

from __future__ import annotations

import json
import logging
import re
from datetime import date
from typing import Any

import httpx
from django.core.exceptions import ValidationError

from agents.config.llm import LlmSettings
from calls.postcall.extraction import CallFacts, Turn, Value, choice_in, phones_in
from stellar.kernel.egress import egress_client
from stellar.kernel.phone import normalize_e164

logger = logging.getLogger(__name__)

TIMEOUT_SECONDS = 20.0
MAX_TRANSCRIPT_CHARS = 12000
TYPE_HINTS = {
    "text": "a short text",
    "number": "a number",
    "date": "a date as YYYY-MM-DD",
    "phone": "a phone number in E.164 form (+ and country code)",
    "yes_no": "true or false",
    "choice": "exactly one of the options",
}
FENCE = re.compile(r"^```(?:json)?\s*|\s*```$")


class ExtractionReplyError(Exception):
    """The model's answer is not a JSON object we can read."""


def extraction_messages(
    fields: list[dict[str, Any]], turns: list[Turn], facts: CallFacts
) -> list[dict[str, str]]:
    described = []
    for field in fields:
        line = f'- "{field["name"]}": {TYPE_HINTS[field["type"]]}'
        if field["type"] == "choice":
            line += " (" + ", ".join(json.dumps(o) for o in field["options"]) + ")"
        if field.get("description"):
            line += f". {field['description']}"
        described.append(line)
    transcript = "\n".join(f"{t.speaker.upper()}: {t.text}" for t in turns)
    system = (
        "You extract data from the transcript of a phone call between a CALLER and an AGENT. "
        "Reply with one JSON object and nothing else. Its keys are the field names below; "
        "each value has the type given, or null when the caller did not say it. "
        f"The call took place on {facts.call_date.isoformat()} "
        f"({facts.call_date.strftime('%A')}); resolve relative dates against it.\n"
        "Fields:\n" + "\n".join(described)
    )
    return [
        {"role": "system", "content": system},
        {"role": "user", "content": "Transcript:\n" + transcript[-MAX_TRANSCRIPT_CHARS:]},
    ]


def parse_reply(content: str) -> dict[str, Any]:
    text = FENCE.sub("", content.strip())
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ExtractionReplyError("the answer is not JSON") from exc
    if not isinstance(data, dict):
        raise ExtractionReplyError("the answer is not a JSON object")
    return data


class InvalidValue(Exception):
    """A value that does not fit its field's type."""


def coerce(field: dict[str, Any], value: Any, facts: CallFacts) -> Value:
    """The model's value as the field's type (None stays None), or InvalidValue."""
    if value is None:
        return None
    kind = field["type"]
    if kind == "text":
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise InvalidValue
        return str(value).strip()[:500] or None
    if kind == "number":
        if isinstance(value, bool):
            raise InvalidValue
        if isinstance(value, str):
            try:
                value = float(value.replace(",", ""))
            except ValueError as exc:
                raise InvalidValue from exc
        if not isinstance(value, int | float):
            raise InvalidValue
        return int(value) if float(value).is_integer() else float(value)
    if kind == "date":
        try:
            return date.fromisoformat(str(value)).isoformat()
        except ValueError as exc:
            raise InvalidValue from exc
    if kind == "phone":
        raw = str(value)
        try:
            return normalize_e164(raw)
        except ValidationError:
            found = phones_in(raw, facts.region)
            if not found:
                raise InvalidValue from None
            return found[0][1]
    if kind == "yes_no":
        if isinstance(value, bool):
            return value
        lowered = str(value).strip().lower()
        if lowered in ("yes", "true"):
            return True
        if lowered in ("no", "false"):
            return False
        raise InvalidValue
    if kind == "choice":
        picked = choice_in(str(value), list(field["options"]))
        if picked is None:
            raise InvalidValue
        return picked
    raise InvalidValue


async def llm_extract(
    fields: list[dict[str, Any]],
    turns: list[Turn],
    facts: CallFacts,
    llm: LlmSettings,
    *,
    timeout: float = TIMEOUT_SECONDS,
) -> tuple[dict[str, Any], list[str]]:
    """The model's values by field name (only fields it answered validly) and the names of
    the fields whose values were unusable. Raises httpx.HTTPError (incl. the egress refusal)
    or ExtractionReplyError when there is no answer to use at all."""
    body = {
        "model": llm.model,
        "messages": extraction_messages(fields, turns, facts),
        "temperature": 0,
        "response_format": {"type": "json_object"},
    }
    headers = {"Authorization": f"Bearer {llm.api_key}"} if llm.api_key else {}
    async with egress_client(timeout=httpx.Timeout(timeout, connect=3.0)) as client:
        response = await client.post(
            f"{llm.base_url.rstrip('/')}/chat/completions", json=body, headers=headers
        )
    if response.status_code != 200:
        raise ExtractionReplyError(f"HTTP {response.status_code}")
    try:
        content = response.json()["choices"][0]["message"]["content"] or ""
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise ExtractionReplyError("the answer is not a chat completion") from exc
    data = parse_reply(str(content))
    values: dict[str, Any] = {}
    invalid: list[str] = []
    for field in fields:
        if field["name"] not in data:
            invalid.append(field["name"])
            continue
        try:
            values[field["name"]] = coerce(field, data[field["name"]], facts)
        except InvalidValue:
            invalid.append(field["name"])
    return values, invalid
