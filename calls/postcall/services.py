"""After a call is finalized: fill its extraction fields, then start its `call.ended` webhook.

Both steps are idempotent (a retried or redelivered task does each once): a call is
extracted once (extracted_at), and its event gets one delivery id, however often this runs.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Any

import httpx
import phonenumbers
from asgiref.sync import async_to_sync
from django.db import transaction
from django.utils import timezone

from agents.config.llm import llm_settings
from agents.config.selectors import environment_values
from calls.models import Call, Speaker
from calls.postcall.extraction import CallFacts, Turn, extract
from calls.postcall.llm_extraction import ExtractionReplyError, llm_extract
from calls.postcall.webhooks import call_ended_delivery_id, webhook_for
from calls.services import call_event_add
from stellar.kernel.metrics import EXTRACTIONS

logger = logging.getLogger(__name__)


def call_facts(call: Call) -> CallFacts:
    """The call's date (UTC) and the caller's country, for relative dates and local numbers."""
    region = "US"
    try:
        parsed = phonenumbers.parse(call.from_number or "", None)
        region = phonenumbers.region_code_for_number(parsed) or region
    except phonenumbers.NumberParseException:
        pass
    return CallFacts(call_date=(call.answered_at or call.created_at).date(), region=region)


def call_turns(call: Call) -> list[Turn]:
    return [
        Turn(speaker="caller" if s.speaker == Speaker.CALLER else "agent", text=s.text)
        for s in call.segments.all()
    ]


def _with_llm(
    call: Call, fields: list[dict[str, Any]], turns: list[Turn], facts: CallFacts
) -> dict[str, Any] | None:
    """The LLM's values (rules for the fields it got wrong), or None to use the rules."""
    snapshot = call.agent_snapshot or {}
    if snapshot.get("brain") != "llm" or call.environment is None:
        return None
    values = environment_values(environment=call.environment)
    llm = llm_settings(
        llm_model=snapshot.get("llm_model") or "",
        variables=values["variables"],
        secrets=values["secrets"],
    )
    if not (llm.base_url and llm.model):
        return None
    try:
        answered, invalid = async_to_sync(llm_extract)(fields, turns, facts, llm)
    except (httpx.HTTPError, ExtractionReplyError) as exc:
        logger.warning("call %s: LLM extraction failed (%s); using rules", call.pk, exc)
        call_event_add(
            call=call,
            kind="extraction_fallback",
            message=f"The LLM could not extract the fields ({type(exc).__name__}); rules did.",
        )
        return None
    if invalid:
        logger.info("call %s: LLM values unusable for %s; rules fill them", call.pk, invalid)
        rules = extract([f for f in fields if f["name"] in invalid], turns, facts)
        answered.update(rules)
    return {f["name"]: answered.get(f["name"]) for f in fields}


def call_extract(*, call_id: int) -> Call:
    """Fill the call's extraction fields once (the fields of the version that answered).
    A call whose agent has no fields is left untouched (no write at all)."""
    call = Call.objects.select_related("environment").get(pk=call_id)
    fields = list((call.agent_snapshot or {}).get("extraction_fields") or [])
    if call.extracted_at is not None or not fields:
        return call
    turns, facts = call_turns(call), call_facts(call)
    llm_values = _with_llm(call, fields, turns, facts)
    extracted = llm_values if llm_values is not None else extract(fields, turns, facts)
    method = "llm" if llm_values is not None else "rules"
    with transaction.atomic():
        updated = Call.objects.filter(pk=call.pk, extracted_at__isnull=True).update(
            extracted=extracted, extracted_by=method, extracted_at=timezone.now()
        )
        if updated:
            EXTRACTIONS.labels(method).inc()
            filled = sum(v is not None for v in extracted.values())
            call_event_add(
                call=call,
                kind="extracted",
                message=f"{filled} of {len(fields)} fields filled ({method}).",
            )
    call.refresh_from_db()
    return call


def webhook_delivery_start(*, call: Call) -> tuple[uuid.UUID, datetime] | None:
    """The delivery id for the call's first `call.ended` attempt and the start of its retry
    window, or None when there is nothing to send (no webhook, or it was sent already)."""
    if webhook_for(call) is None or call_ended_delivery_id(call) is not None:
        return None
    return uuid.uuid4(), timezone.now()
