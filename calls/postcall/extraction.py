"""Embedded extraction: an agent's extraction fields filled from the caller's words by rules.

No model and no network: every value comes from patterns over the transcript (the caller's
turns, with the agent's question before each one as context for yes/no and choice fields).
What the caller did not say stays None. The LLM path (llm_extraction) falls back to this.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from datetime import date, timedelta
from difflib import SequenceMatcher
from typing import Any

import phonenumbers
from django.core.exceptions import ValidationError

from stellar.kernel.phone import normalize_e164


@dataclass(frozen=True)
class Turn:
    speaker: str  # "caller" or "agent"
    text: str


@dataclass(frozen=True)
class CallFacts:
    """What extraction may use besides the transcript."""

    call_date: date
    region: str = "US"  # for numbers said without a country code (the caller's own country)


Value = str | int | float | bool | None

WORD = re.compile(r"[a-z0-9']+")
STOPWORDS = frozenset(
    re.findall(
        r"\w+",
        "a an the to of for in on at by is are was be do does did you your i my me we our it "
        "this that what which when who how any and or with from has have had will would can "
        "could should please caller call their they them about",
    )
)

# --- numbers ---------------------------------------------------------------------------------

UNITS = {
    "zero": 0, "oh": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
    "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
    "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18,
    "nineteen": 19, "a couple": 2, "couple": 2, "a dozen": 12, "dozen": 12,
}  # fmt: skip
TENS = {
    "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
    "eighty": 80, "ninety": 90,
}  # fmt: skip
SCALES = {"hundred": 100, "thousand": 1000}
SPOKEN_NUMBER = re.compile(
    r"\b(?:(?:" + "|".join(sorted([*UNITS, *TENS, *SCALES], key=len, reverse=True)) + r")"
    r"(?:[\s-]+(?:and[\s-]+)?)?)+",
    re.IGNORECASE,
)
COUNTED = re.compile(r"\s*(?:person|people|of us|guest|night|room|adult|child|day|week)", re.I)
DIGIT_NUMBER = re.compile(r"(?<![\d+])(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d+))?(?![\d])")


def spoken_number(text: str) -> int | None:
    """ "twenty five" → 25, "two hundred and ten" → 210, "a dozen" → 12; None if not a number."""
    words = re.sub(r"[\s-]+", " ", text.lower().replace(" and ", " ")).strip()
    for phrase in ("a couple", "a dozen"):
        words = words.replace(phrase, phrase.replace(" ", "_"))
    total = current = 0
    seen = False
    for word in words.split():
        word = word.replace("_", " ")
        if word in UNITS:
            current += UNITS[word]
        elif word in TENS:
            current += TENS[word]
        elif word in SCALES:
            current = max(current, 1) * SCALES[word]
            if SCALES[word] >= 1000:
                total, current = total + current, 0
        else:
            continue
        seen = True
    return total + current if seen else None


def numbers_in(text: str) -> list[tuple[int, int | float]]:
    """(position, value) of every number said in digits or words, in order."""
    found: list[tuple[int, int | float]] = []
    for match in DIGIT_NUMBER.finditer(text):
        whole = int(match.group(1).replace(",", ""))
        found.append(
            (match.start(), float(f"{whole}.{match.group(2)}") if match.group(2) else whole)
        )
    for match in SPOKEN_NUMBER.finditer(text):
        said = match.group(0).strip().lower()
        value = spoken_number(said)
        if value is None or said == "oh":
            continue
        # "one" is mostly a pronoun ("the blue one"); a count only before what is counted
        if said == "one" and not COUNTED.match(text, match.end()):
            continue
        found.append((match.start(), value))
    return sorted(found)


# --- dates -----------------------------------------------------------------------------------

WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
MONTHS = [
    "january", "february", "march", "april", "may", "june", "july", "august", "september",
    "october", "november", "december",
]  # fmt: skip
ORDINALS = {
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7,
    "eighth": 8, "ninth": 9, "tenth": 10, "eleventh": 11, "twelfth": 12, "thirteenth": 13,
    "fourteenth": 14, "fifteenth": 15, "sixteenth": 16, "seventeenth": 17, "eighteenth": 18,
    "nineteenth": 19, "twentieth": 20, "twenty first": 21, "twenty second": 22,
    "twenty third": 23, "twenty fourth": 24, "twenty fifth": 25, "twenty sixth": 26,
    "twenty seventh": 27, "twenty eighth": 28, "twenty ninth": 29, "thirtieth": 30,
    "thirty first": 31,
}  # fmt: skip
MONTH = r"(" + "|".join(m[:3] + r"(?:" + m[3:] + r")?" for m in MONTHS) + r")\.?"
DAY = (
    r"(\d{1,2})(?:st|nd|rd|th)?|("
    + "|".join(sorted(ORDINALS, key=len, reverse=True)).replace(" ", r"[\s-]")
    + r")"
)
MONTH_DAY = re.compile(MONTH + r"\s+(?:the\s+)?(?:" + DAY + r")\b", re.IGNORECASE)
DAY_MONTH = re.compile(r"\b(?:the\s+)?(?:" + DAY + r")\s+(?:of\s+)?" + MONTH, re.IGNORECASE)
ISO_DATE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
RELATIVE = re.compile(
    r"\b(day after tomorrow|tomorrow|today|tonight|(?:(next|this|coming)\s+)?("
    + "|".join(WEEKDAYS)
    + r")|next week)\b",
    re.IGNORECASE,
)


def _day_number(digits: str | None, words: str | None) -> int | None:
    if digits:
        return int(digits)
    if words:
        return ORDINALS.get(re.sub(r"[\s-]+", " ", words.lower()))
    return None


def _month_number(text: str) -> int:
    return next(i for i, m in enumerate(MONTHS, start=1) if m.startswith(text.lower()[:3]))


def _future(year: int, month: int, day: int, today: date) -> date | None:
    """The date with that month and day on or after `today` (this year or the next)."""
    for candidate_year in (year, year + 1):
        try:
            candidate = date(candidate_year, month, day)
        except ValueError:
            return None
        if candidate >= today:
            return candidate
    return None


def dates_in(text: str, today: date) -> list[tuple[int, date]]:
    """(position, date) of every date the text names: calendar dates first, then relative
    ones ("Tuesday", "tomorrow"), resolved against `today`."""
    found: list[tuple[int, date]] = []  # calendar dates
    relative: list[tuple[int, date]] = []
    for match in ISO_DATE.finditer(text):
        with contextlib.suppress(ValueError):
            found.append((match.start(), date(*(int(g) for g in match.groups()))))
    for match in MONTH_DAY.finditer(text):
        day = _day_number(match.group(2), match.group(3))
        when = _future(today.year, _month_number(match.group(1)), day or 0, today)
        if when:
            found.append((match.start(), when))
    for match in DAY_MONTH.finditer(text):
        day = _day_number(match.group(1), match.group(2))
        when = _future(today.year, _month_number(match.group(3)), day or 0, today)
        if when:
            found.append((match.start(), when))
    for match in RELATIVE.finditer(text):
        phrase = match.group(1).lower()
        if phrase in ("today", "tonight"):
            when = today
        elif phrase == "tomorrow":
            when = today + timedelta(days=1)
        elif phrase == "day after tomorrow":
            when = today + timedelta(days=2)
        elif phrase == "next week":
            when = today + timedelta(days=7 - today.weekday())  # the coming Monday
        else:
            # "(next) Tuesday": the coming one, a week ahead when said on a Tuesday
            ahead = (WEEKDAYS.index(match.group(3).lower()) - today.weekday()) % 7 or 7
            when = today + timedelta(days=ahead)
        relative.append((match.start(), when))
    # "Friday the 20th of March": the calendar date is what was meant, the weekday goes with it
    return sorted(found) + sorted(relative)


# --- phone numbers ---------------------------------------------------------------------------

DIGIT_WORDS = {
    w: str(v) for w, v in UNITS.items() if isinstance(v, int) and v <= 9 and " " not in w
}
PHONE_RUN = re.compile(r"(?:\+|\b00)?\(?\d[\d\s().-]{6,}\d")


def _spoken_digits(text: str) -> str:
    """ "five five five one two three four" → "555 1234" (and "double five" → "55")."""
    out: list[str] = []
    words = re.findall(r"[a-z]+|\d+|\+", text.lower())
    i = 0
    while i < len(words):
        word = words[i]
        if word in ("double", "triple") and i + 1 < len(words) and words[i + 1] in DIGIT_WORDS:
            out.append(DIGIT_WORDS[words[i + 1]] * (2 if word == "double" else 3))
            i += 2
            continue
        if word in DIGIT_WORDS:
            out.append(DIGIT_WORDS[word])
        elif word == "plus":
            out.append("+")
        else:
            out.append(" | ")
        i += 1
    return " ".join(out)


def phones_in(text: str, region: str) -> list[tuple[int, str]]:
    """(position, E.164) of every valid phone number said in digits or digit words."""
    found: list[tuple[int, str]] = []
    for source in (text, _spoken_digits(text)):
        for match in PHONE_RUN.finditer(source):
            raw = re.sub(r"[^\d+]", "", match.group(0))
            if len(raw.lstrip("+")) < 7:
                continue
            try:
                if raw.startswith(("+", "00")):
                    found.append((match.start(), normalize_e164(raw)))
                    continue
                number = phonenumbers.parse(raw, region)
                e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
                found.append((match.start(), normalize_e164(e164)))
            except (phonenumbers.NumberParseException, ValidationError):
                continue
        if found:
            break
    return found


TIME_OF_DAY = re.compile(
    r"\b\d{1,2}(?::\d{2})?\s*(?:am|pm|a\.m\.|p\.m\.|o'clock)|\b\d{1,2}:\d{2}\b", re.I
)


def _without_dates_and_phones(text: str) -> str:
    """The text with dates, times of day and phone numbers blanked out, so the numbers left
    are counts and amounts ("the 3rd of May at 5 pm for 4 people" → 4)."""
    for pattern in (ISO_DATE, MONTH_DAY, DAY_MONTH, TIME_OF_DAY, PHONE_RUN):
        text = pattern.sub(lambda m: " " * len(m.group(0)), text)
    return text


# --- relevance -------------------------------------------------------------------------------


def _stem(word: str) -> str:
    for suffix in ("ing", "ed", "es", "s"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def keywords(text: str) -> set[str]:
    return {_stem(w) for w in WORD.findall(text.lower().replace("_", " ")) if w not in STOPWORDS}


def _relevance(field: dict[str, Any], text: str) -> int:
    wanted = keywords(field["name"] + " " + field.get("description", ""))
    return len(wanted & keywords(text))


def _exchanges(turns: list[Turn]) -> list[tuple[str, str]]:
    """(the agent's words just before, the caller's turn) for every caller turn."""
    pairs: list[tuple[str, str]] = []
    asked = ""
    for turn in turns:
        if turn.speaker == "agent":
            asked = turn.text
        elif turn.text.strip():
            pairs.append((asked, turn.text))
            asked = ""
    return pairs


def _ranked(field: dict[str, Any], turns: list[Turn]) -> list[tuple[str, str]]:
    """Caller turns, the most relevant to the field first (ties: earlier first)."""
    pairs = _exchanges(turns)
    order = sorted(range(len(pairs)), key=lambda i: (-_relevance(field, " ".join(pairs[i])), i))
    return [pairs[i] for i in order]


# --- yes/no, choice, text --------------------------------------------------------------------

YES = re.compile(
    r"\b(yes|yeah|yep|yup|sure|correct|definitely|absolutely|of course|that's right|"
    r"i do|i am|i have|i did|we do|we have|please do|go ahead)\b",
    re.IGNORECASE,
)
NO = re.compile(
    r"\b(no|nope|nah|not|don't|doesn't|didn't|haven't|hasn't|won't|never|none|"
    r"i'm not|we're not)\b",
    re.IGNORECASE,
)
GREETING = re.compile(
    r"^(?:(?:(?:hi|hello|hey)(?: there)?|good (?:morning|afternoon|evening)|yes|yeah|um+|uh+|"
    r"so|well|ok(?:ay)?)"
    r"[\s,.!]*)+",
    re.IGNORECASE,
)
LEAD_IN = re.compile(
    r"^(?:(?:i'm|i am) calling (?:because|about|to)|i'm ringing about|i(?:'d| would) like(?: to)?|"
    r"i want(?:ed)?(?: to)?|i need(?: to)?|i was wondering if (?:i could|you could)|can i|could i|"
    r"could you|can you)\s+",
    re.IGNORECASE,
)
NAME_SAID = re.compile(
    r"\b(?i:my name is|my name's|this is|i am|i'm|it's)\s+([A-Z][a-z'-]+(?:\s+[A-Z][a-z'-]+)?)"
)


def yes_no_in(asked: str, said: str, field: dict[str, Any]) -> bool | None:
    """The caller's yes or no: a negation wins when the caller also names the field's topic."""
    no, yes = NO.search(said), YES.search(said)
    if no and (not yes or no.start() <= yes.start() or _relevance(field, said)):
        return False
    if yes:
        return True
    return None


def choice_in(text: str, options: list[str]) -> str | None:
    """The option the caller named, allowing small misspellings and mis-hearings."""
    lowered = text.lower()
    words = WORD.findall(lowered)
    best, best_score = None, 0.0
    for option in options:
        target = option.lower()
        if re.search(r"\b" + re.escape(target) + r"\b", lowered):
            return option
        size = max(1, len(target.split()))
        for i in range(len(words)):
            window = " ".join(words[i : i + size])
            score = SequenceMatcher(None, target, window).ratio()
            if score > best_score:
                best, best_score = option, score
    return best if best_score >= 0.8 else None


def first_request(turns: list[Turn]) -> str | None:
    """The caller's first substantive request: the first turn with a few words in it once
    greetings and "I'm calling because" are taken off."""
    for turn in turns:
        if turn.speaker != "caller":
            continue
        text = GREETING.sub("", turn.text.strip())
        sentences = [s.strip() for s in re.split(r"(?<=[.!?])\s+", text) if s.strip()]
        for sentence in sentences:
            if NAME_SAID.match(sentence) and len(sentence.split()) <= 5:
                continue  # "This is Anna Berg." introduces, it does not ask
            core = sentence
            while LEAD_IN.match(core):
                core = LEAD_IN.sub("", core, count=1)
            core = core.rstrip(".!?").strip()
            if len(core.split()) >= 3:
                return core[0].upper() + core[1:]
    return None


# --- the fields ------------------------------------------------------------------------------


def extract_field(field: dict[str, Any], turns: list[Turn], facts: CallFacts) -> Value:
    """One field's value from the transcript, or None when the caller did not give it."""
    kind = field["type"]
    ranked = _ranked(field, turns)
    if kind == "date":
        for _asked, said in ranked:
            found = dates_in(said, facts.call_date)
            if found:
                return found[0][1].isoformat()
        return None
    if kind == "phone":
        for _asked, said in ranked:
            phones = phones_in(said, facts.region)
            if phones:
                return phones[0][1]
        return None
    if kind == "number":
        for asked, said in ranked:
            if not _relevance(field, asked + " " + said) and ranked[0][1] != said:
                break
            amounts = numbers_in(_without_dates_and_phones(said))
            if amounts:
                return amounts[0][1]
        return None
    if kind == "yes_no":
        for asked, said in ranked:
            if _relevance(field, asked + " " + said) == 0:
                break
            answer = yes_no_in(asked, said, field)
            if answer is not None:
                return answer
        return None
    if kind == "choice":
        options = list(field.get("options") or [])
        for _asked, said in ranked:
            picked = choice_in(said, options)
            if picked:
                return picked
        return None
    # text
    name = field["name"]
    if re.search(r"(^|_)name$", name):
        for turn in turns:
            if turn.speaker == "caller":
                match = NAME_SAID.search(turn.text)
                if match:
                    return match.group(1)
        return None
    if re.search(
        r"reason|request|purpose|topic|issue|why", name + " " + field.get("description", ""), re.I
    ):
        return first_request(turns)
    for asked, said in ranked:
        if _relevance(field, asked + " " + said):
            return said.strip()
        break
    return None


def extract(fields: list[dict[str, Any]], turns: list[Turn], facts: CallFacts) -> dict[str, Value]:
    """Every field's value (None: not said), in the fields' order."""
    return {field["name"]: extract_field(field, turns, facts) for field in fields}
