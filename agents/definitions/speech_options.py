"""Which languages and voices an agent may be set to: what the installed speech stack handles
(the STT's languages, the TTS's voices), so a draft never names one that does not exist."""

from __future__ import annotations

from agents.speech.registry import stt_languages, tts_voices

# Language tags Studio offers, by name; only those whose base language the STT transcribes
# are choices (the bundled Whisper model is English-only, so today: the English ones).
LANGUAGE_NAMES = {
    "en-US": "English (United States)",
    "en-GB": "English (United Kingdom)",
    "en-AU": "English (Australia)",
    "en-CA": "English (Canada)",
    "en-IE": "English (Ireland)",
    "en-IN": "English (India)",
    "en-NZ": "English (New Zealand)",
    "en-ZA": "English (South Africa)",
    "nl-NL": "Dutch (Netherlands)",
    "de-DE": "German (Germany)",
    "fr-FR": "French (France)",
    "es-ES": "Spanish (Spain)",
    "it-IT": "Italian (Italy)",
    "pt-BR": "Portuguese (Brazil)",
}


def language_choices() -> list[tuple[str, str]]:
    """(tag, name) of each language the installed speech stack can hear."""
    heard = set(stt_languages())
    return [(tag, name) for tag, name in LANGUAGE_NAMES.items() if tag.split("-")[0] in heard]


def voice_choices() -> list[tuple[str, str]]:
    return [(voice, voice) for voice in tts_voices()]


def language_problem(value: str) -> str | None:
    """Why `value` cannot be an agent's language, or None when it can."""
    tags = [tag for tag, _ in language_choices()]
    if value in tags:
        return None
    return f"“{value}” is not a language the installed speech stack handles. Choose one of: " + (
        ", ".join(tags) + "."
    )


def voice_problem(value: str) -> str | None:
    """Why `value` cannot be an agent's voice, or None when it can."""
    voices = tts_voices()
    if value in voices:
        return None
    return f"“{value}” is not an installed voice. Choose one of: {', '.join(voices)}."
