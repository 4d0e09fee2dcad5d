"""Warm handover: the short summary whispered to the person who answers, before the caller is
bridged (Twilio's `<Dial><Number url>`).

The text is written when the handover dials (`whisper_prepare`) and stored as a CallEvent, so
the whisper URL, which Twilio requests from whichever process it reaches, only reads it back
(`whisper_twiml`) and the call page shows what was said.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

import phonenumbers
from django.urls import reverse

from calls.models import Call, CallEvent, Speaker, TranscriptSegment
from calls.services import call_event_add
from calls.twilio.signatures import public_url_for
from calls.twilio.twiml import twiml_whisper
from stellar.kernel.metrics import HANDOVER_WHISPERS

logger = logging.getLogger(__name__)

PREPARED = "handover_whisper"  # written when the handover dials; data.text is the summary
WHISPERED = "handover_whispered"  # written when Twilio fetched it for the person who answered
MAX_REASON_WORDS = 18  # with "Call from <number>. They said:" the whisper stays ≤ ~25 words
_LANGUAGE_TAG = re.compile(r"^[a-z]{2}-[A-Z]{2}$")


@dataclass(frozen=True)
class Phrases:
    """The few words around the number and the reason, in the agent's language."""

    plus: str
    caller: str  # "{number}" is replaced
    withheld: str  # the caller's number is not known
    said: str  # "{words}" is replaced


PHRASES = {
    "en": Phrases(
        "plus", "Call from {number}.", "Call from a withheld number.", "They said: {words}"
    ),
    "nl": Phrases("plus", "Beller {number}.", "Beller met afgeschermd nummer.", "Zei: {words}"),
    "de": Phrases(
        "plus", "Anruf von {number}.", "Anruf mit unterdrückter Nummer.", "Anliegen: {words}"
    ),
    "fr": Phrases("plus", "Appel du {number}.", "Appel d'un numéro masqué.", "Il a dit : {words}"),
    "es": Phrases("más", "Llamada del {number}.", "Llamada de un número oculto.", "Dijo: {words}"),
    "it": Phrases(
        "più", "Chiamata dal {number}.", "Chiamata da un numero nascosto.", "Ha detto: {words}"
    ),
    "pt": Phrases("mais", "Chamada do {number}.", "Chamada de um número oculto.", "Disse: {words}"),
}


def say_language(call: Call) -> str:
    """The agent's language as a `<Say language>` tag, or "" to leave Twilio's default."""
    tag = str((call.agent_snapshot or {}).get("language") or "")
    return tag if _LANGUAGE_TAG.match(tag) and tag[:2] in PHRASES else ""


def spoken_number(number: str, plus: str = "plus") -> str:
    """A phone number read digit by digit in its national groups ("plus 3 1, 2 0, 1 2 3 …"):
    `<Say>` would otherwise read "+31201234567" as one large amount."""
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        parsed = None
    if parsed is not None and phonenumbers.is_possible_number(parsed):
        text = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
        groups = re.findall(r"\d+", text)
    else:
        groups = re.findall(r"\d+", number)
    spoken = ", ".join(" ".join(group) for group in groups)
    return f"{plus} {spoken}" if number.strip().startswith("+") else spoken


def caller_words(call: Call) -> str:
    """Why they are calling: the caller's words that led to the handover (the engine quotes them
    in the handover's reason), else their last words; without any, the reason itself (a
    supervisor's take-over has no caller words of its own)."""
    chosen = CallEvent.objects.filter(call=call, kind="handover_chosen").order_by("-pk").first()
    reason = str((chosen.data or {}).get("reason") or "") if chosen else ""
    recent = [
        text.strip()
        for text in TranscriptSegment.objects.filter(call=call, speaker=Speaker.CALLER)
        .order_by("-start_ms")
        .values_list("text", flat=True)[:5]
        if text.strip()
    ]
    # Words said after the choice (during the handover line) are not why they called.
    quoted = next((text for text in recent if text in reason), None)
    return quoted or (recent[0] if recent else reason)


def _shorten(words: str, limit: int = MAX_REASON_WORDS) -> str:
    parts = words.split()
    if len(parts) <= limit:
        return " ".join(parts)
    return " ".join(parts[:limit]).rstrip(",.;:") + "…"


def whisper_text(*, call: Call, language: str = "") -> str:
    """Who is calling and why, in a sentence or two."""
    phrases = PHRASES.get(language[:2], PHRASES["en"])
    if any(c.isdigit() for c in call.from_number or ""):
        text = phrases.caller.format(number=spoken_number(call.from_number, phrases.plus))
    else:
        text = phrases.withheld
    words = _shorten(caller_words(call))
    return f"{text} {phrases.said.format(words=words)}" if words else text


def whisper_prepare(*, call: Call, destination: str) -> str:
    """Store this dial's whisper and return the URL Twilio fetches it from (`<Number url>`).

    Later destinations of the same handover whisper the text the first one got: the caller has
    not spoken since."""
    earlier = CallEvent.objects.filter(call=call, kind=PREPARED).order_by("-pk").first()
    language = say_language(call)
    text = str(earlier.data.get("text", "")) if earlier is not None else ""
    text = text or whisper_text(call=call, language=language)
    event = call_event_add(
        call=call,
        kind=PREPARED,
        message=f"Whisper ready for {destination}",
        text=text,
        language=language,
        destination=destination,
    )
    HANDOVER_WHISPERS.labels("prepared").inc()
    return public_url_for(reverse("handover-whisper", args=[call.pk, event.pk]))


def whisper_twiml(*, call: Call, event_id: int, params: dict[str, str]) -> str | None:
    """The `<Say>` for the person who answered, recorded on the call's timeline; None when the
    whisper is not one of this call's."""
    event = CallEvent.objects.filter(call=call, kind=PREPARED, pk=event_id).first()
    if event is None:
        logger.warning("whisper %s requested for call %s: no such whisper", event_id, call.pk)
        return None
    text = str(event.data.get("text") or "")
    destination = str(event.data.get("destination") or params.get("To", ""))
    call_event_add(
        call=call,
        kind=WHISPERED,
        message=f"Whispered to {destination}: {text}",
        text=text,
        destination=destination,
        dial_call_sid=params.get("CallSid", ""),
    )
    HANDOVER_WHISPERS.labels("served").inc()
    return twiml_whisper(text=text, language=str(event.data.get("language") or ""))
