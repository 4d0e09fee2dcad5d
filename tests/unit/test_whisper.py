"""The whisper's words and TwiML, without the database."""

from __future__ import annotations

from calls.models import Call
from calls.simulator.twiml import DialVerb, SayVerb, parse_twiml
from calls.twilio.twiml import twiml_dial, twiml_whisper
from calls.twilio.whisper import MAX_REASON_WORDS, _shorten, say_language, spoken_number


def test_number_is_read_digit_by_digit_in_its_groups() -> None:
    assert spoken_number("+31201234567") == "plus 3 1, 2 0, 1 2 3, 4 5 6 7"
    assert spoken_number("+14155550123") == "plus 1, 4 1 5, 5 5 5, 0 1 2 3"
    assert spoken_number("+34612345678", "más").startswith("más 3 4, ")
    # Not a possible number: still every digit, never one large amount.
    assert spoken_number("12345") == "1 2 3 4 5"


def test_reason_is_cut_to_a_few_words() -> None:
    long = " ".join(f"w{i}" for i in range(40))
    short = _shorten(long)
    assert short.endswith("…") and len(short.split()) == MAX_REASON_WORDS
    assert _shorten("  I want   sales. ") == "I want sales."


def test_say_language_follows_the_agent_when_twilio_can_say_it() -> None:
    assert say_language(Call(agent_snapshot={"language": "nl-NL"})) == "nl-NL"
    assert say_language(Call(agent_snapshot={"language": "xx-YY"})) == ""
    assert say_language(Call(agent_snapshot={"language": 'en-US"><Hangup/>'})) == ""
    assert say_language(Call(agent_snapshot={})) == ""


def test_dial_has_number_url_only_with_a_whisper() -> None:
    plain = twiml_dial(number="+3120", caller_id="+3199", timeout=20, action_url="https://s/d")
    assert "url=" not in plain
    (dial,) = parse_twiml(plain)
    assert isinstance(dial, DialVerb) and dial.urls == (None,)

    warm = twiml_dial(
        number="+3120",
        caller_id="+3199",
        timeout=20,
        action_url="https://s/d",
        whisper_url="https://s/v1/calls/1/whispers/2",
    )
    (dial,) = parse_twiml(warm)
    assert isinstance(dial, DialVerb) and dial.numbers == ("+3120",)
    url = dial.url_for(0)
    assert url is not None and (url.url, url.method) == ("https://s/v1/calls/1/whispers/2", "POST")


def test_whisper_twiml_is_one_say_and_escapes_the_text() -> None:
    verbs = parse_twiml(twiml_whisper(text='Call from 1. They said: "<Hangup/>" & more'))
    assert verbs == [SayVerb(text='Call from 1. They said: "<Hangup/>" & more')]
    (say,) = parse_twiml(twiml_whisper(text="Hallo", language="nl-NL"))
    assert isinstance(say, SayVerb) and say.language == "nl-NL"
