"""Spoken forms → written forms in a caller's transcript, before the brain reads it.

Speech recognition writes what it heard: "oh six one two …", "twenty five euros", "the fifth of
March", "A B C one two three". The brain, the actions' variables and the LLM all want the written
form ("0612…", "25 euros", "5 March", "ABC123"). This module rewrites only what is unmistakably a
number, a time, a date or a spelled code, and leaves ordinary words alone ("one of them", "I won",
"for you", "to be", "oh, one more thing"): a wrong rewrite costs more than a missed one, because
the brain still understands "twenty five" but not a sentence whose words were changed.

Pure text processing (no Django, no model): it runs on every caller turn.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["normalize_spoken"]

_UNITS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4,
    "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
}  # fmt: skip
_TEENS = {
    "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
}  # fmt: skip
_TENS = {
    "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50,
    "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90,
}  # fmt: skip
_SCALES = {"hundred": 100, "thousand": 1000}
_REPEATS = {"double": 2, "triple": 3}
_ORDINALS = {
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7,
    "eighth": 8, "ninth": 9, "tenth": 10, "eleventh": 11, "twelfth": 12, "thirteenth": 13,
    "fourteenth": 14, "fifteenth": 15, "sixteenth": 16, "seventeenth": 17, "eighteenth": 18,
    "nineteenth": 19, "twentieth": 20, "thirtieth": 30,
}  # fmt: skip
_MONTHS = [
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
]  # fmt: skip
# A lone number word is rewritten only before one of these ("five euros"); alone it may be a
# pronoun or part of a phrase ("one of them", "the one I ordered").
_UNIT_WORDS = {
    "euro", "euros", "dollar", "dollars", "pound", "pounds", "percent", "cents", "minute",
    "minutes", "hour", "hours", "day", "days", "week", "weeks", "month", "months", "year",
    "years", "people", "persons", "guests", "nights", "items", "kilos", "km", "o'clock",
    "am", "pm", "a.m.", "p.m.",
}  # fmt: skip
_MERIDIEM = {"am", "pm", "a.m.", "p.m."}
# Before "M to H" as a time ("at twenty to five"); elsewhere "two to three days" is a range.
_TIME_LEADS = {"at", "by", "until", "till", "before", "after", "around", "it's"}

# Words (with "o'clock", "a.m."), runs of digits, and each punctuation mark on its own, so a
# sentence's final "." stays when the number before it is rewritten.
_TOKEN = re.compile(
    r"[AaPp]\.[Mm]\.|\d{1,2}(?:st|nd|rd|th)\b|[A-Za-z]+(?:'[A-Za-z]+)*|\d+|[^\sA-Za-z\d]"
)


@dataclass
class _Tok:
    text: str
    space: bool  # whitespace before this token in the original text

    @property
    def low(self) -> str:
        return self.text.lower()


def normalize_spoken(text: str) -> str:
    """The transcript with spoken numbers, times, dates and spelled codes written out."""
    if not text or not text.strip():
        return text
    toks = [_Tok(m.group(), m.start() > 0 and text[m.start() - 1].isspace()) for m in _iter(text)]
    toks = _dates(toks)
    toks = _times(toks)
    toks = _numbers(toks)
    toks = _codes(toks)
    return "".join((" " if t.space and i else "") + t.text for i, t in enumerate(toks))


def _iter(text: str) -> list[re.Match[str]]:
    return list(_TOKEN.finditer(text))


def _is_word_number(low: str) -> bool:
    return low in _UNITS or low in _TEENS or low in _TENS


def _cardinal_at(toks: list[_Tok], i: int, *, limit: int = 99) -> tuple[int, int] | None:
    """(value, tokens used) of a number ≤ `limit` spoken at `i` ("twenty five", "seven")."""
    if i >= len(toks):
        return None
    low = toks[i].low
    if low in _TENS:
        if i + 1 < len(toks) and toks[i + 1].low in _UNITS and toks[i + 1].low != "zero":
            return _TENS[low] + _UNITS[toks[i + 1].low], 2
        return _TENS[low], 1
    value = _UNITS.get(low, _TEENS.get(low))
    if value is None or value > limit:
        return None
    return value, 1


# ---- dates -------------------------------------------------------------------------------
def _ordinal_at(toks: list[_Tok], i: int) -> tuple[int, int] | None:
    """(day, tokens used) for "fifth", "twenty first", "thirty-first" written as two words."""
    if i >= len(toks):
        return None
    low = toks[i].low
    if low in ("twenty", "thirty") and i + 1 < len(toks) and toks[i + 1].low in _ORDINALS:
        day = _TENS[low] + _ORDINALS[toks[i + 1].low]
        return (day, 2) if day <= 31 and _ORDINALS[toks[i + 1].low] < 10 else None
    if low in _ORDINALS:
        return _ORDINALS[low], 1
    match = re.fullmatch(r"(\d{1,2})(?:st|nd|rd|th)", low)
    if match and 1 <= int(match.group(1)) <= 31:
        return int(match.group(1)), 1
    return None


def _month(tok: _Tok, *, after_of: bool = False) -> str | None:
    """The month a word names; "may" and "march" are verbs unless capitalised or after "of"
    ("the second may be wrong")."""
    month = next((m for m in _MONTHS if m.lower() == tok.low), None)
    if month in ("May", "March") and not after_of and not tok.text[:1].isupper():
        return None
    return month


def _dates(toks: list[_Tok]) -> list[_Tok]:
    """Dates: "the fifth of March" / "fifth March" → "5 March"; "March the fifth" → "March 5".
    An ordinal is rewritten only beside a month name: "the first thing" stays."""
    out: list[_Tok] = []
    i = 0
    while i < len(toks):
        tok = toks[i]
        the = 1 if tok.low == "the" else 0
        ordinal = _ordinal_at(toks, i + the)
        if ordinal is not None:
            day, used = ordinal
            j = i + the + used
            of = 1 if j < len(toks) and toks[j].low == "of" else 0
            month = _month(toks[j + of], after_of=bool(of)) if j + of < len(toks) else None
            if month is not None:
                out += [_Tok(str(day), tok.space), _Tok(month, True)]
                i = j + of + 1
                continue
        month = _month(tok)
        if month is not None:
            the = 1 if i + 1 < len(toks) and toks[i + 1].low == "the" else 0
            ordinal = _ordinal_at(toks, i + 1 + the)
            if ordinal is not None:
                out += [_Tok(month, tok.space), _Tok(str(ordinal[0]), True)]
                i += 1 + the + ordinal[1]
                continue
        out.append(tok)
        i += 1
    return out


# ---- times -------------------------------------------------------------------------------
def _hour_at(toks: list[_Tok], i: int) -> tuple[int, int] | None:
    found = _cardinal_at(toks, i, limit=12)
    if found is None and i < len(toks) and toks[i].text.isdigit() and 1 <= int(toks[i].text) <= 12:
        found = int(toks[i].text), 1
    if found is None or not 1 <= found[0] <= 12:
        return None
    after = toks[i + found[1]].low if i + found[1] < len(toks) else ""
    if after in _UNIT_WORDS - _MERIDIEM - {"o'clock"}:  # "two to three days": a range
        return None
    return found


def _times(toks: list[_Tok]) -> list[_Tok]:
    """Times: "half past three" → "3:30", "quarter to five" → "4:45", "at ten past four" → "at 4:10",
    "three o'clock" → "3:00", "three thirty pm" → "3:30 pm"."""
    out: list[_Tok] = []
    i = 0
    while i < len(toks):
        tok = toks[i]
        minutes: tuple[int, int] | None = None
        if tok.low == "half":
            minutes = (30, 1)
        elif tok.low == "quarter":
            minutes = (15, 1)
        elif tok.low == "a" and i + 1 < len(toks) and toks[i + 1].low == "quarter":
            minutes = (15, 2)
        else:
            minutes = _cardinal_at(toks, i, limit=59)
            said_minutes = minutes is not None and i + minutes[1] < len(toks)
            if said_minutes and minutes and toks[i + minutes[1]].low in ("minute", "minutes"):
                minutes = (minutes[0], minutes[1] + 1)
        if minutes is not None and i + minutes[1] < len(toks):
            word = toks[i + minutes[1]].low
            before = out[-1].low if out else ""
            spoken = tok.low in ("half", "quarter", "a")
            # "ten past four", not "nine to five" (hours, a range): minutes said in fives.
            fives = spoken or minutes[0] % 5 == 0 or toks[i + minutes[1] - 1].low.startswith("min")
            if fives and (word == "past" or (word == "to" and (spoken or before in _TIME_LEADS))):
                hour = _hour_at(toks, i + minutes[1] + 1)
                if hour is not None and (word == "past" or tok.low != "half"):
                    h, m = hour[0], minutes[0]
                    if word == "to":
                        h, m = (h - 2) % 12 + 1, 60 - m
                    out.append(_Tok(f"{h}:{m:02d}", tok.space))
                    i += minutes[1] + 1 + hour[1]
                    continue
        hour = _hour_at(toks, i)
        if hour is not None:
            j = i + hour[1]
            if j < len(toks) and toks[j].low == "o'clock":
                out.append(_Tok(f"{hour[0]}:00", tok.space))
                i = j + 1
                continue
            mins = _minutes_at(toks, j)
            if mins is not None and j + mins[1] < len(toks) and toks[j + mins[1]].low in _MERIDIEM:
                out.append(_Tok(f"{hour[0]}:{mins[0]:02d}", tok.space))
                i = j + mins[1]
                continue
        out.append(tok)
        i += 1
    return out


def _minutes_at(toks: list[_Tok], i: int) -> tuple[int, int] | None:
    """The minutes of "three thirty", "seven oh five" (not "three five": that is two digits)."""
    if i < len(toks) and toks[i].low in ("oh", "o"):
        unit = _UNITS.get(toks[i + 1].low) if i + 1 < len(toks) else None
        return (unit, 2) if unit else None
    if i < len(toks) and re.fullmatch(r"[0-5]\d", toks[i].text):  # Whisper's "3 30 PM"
        return int(toks[i].text), 1
    found = _cardinal_at(toks, i, limit=59)
    return found if found is not None and found[0] >= 10 else None


def _is_digits(tok: _Tok) -> bool:
    return tok.text.isdigit()


def _digit(tok: _Tok) -> bool:
    return len(tok.text) == 1 and tok.text.isdigit()


# ---- numbers -----------------------------------------------------------------------------
@dataclass
class _Chunk:
    text: str
    single_digit: bool  # a digit said alone ("six"), joined to its neighbours ("oh six" → "06")
    after_comma: bool = False


def _numbers(toks: list[_Tok]) -> list[_Tok]:
    """Runs of number words (and digits already written) → digits. A run is rewritten when it
    holds two or more numbers or number words ("oh six, twelve", "twenty five", "double seven",
    "06 twelve") or one before a unit ("five euros"); a lone "one" stays even before a unit
    ("one day I'll …") unless a range needs it ("one or two days")."""
    out: list[_Tok] = []
    i = 0
    while i < len(toks):
        end, said, chunks = _run_at(toks, i)
        if not chunks:
            out.append(toks[i])
            i += 1
            continue
        after = toks[end].low if end < len(toks) else ""
        words = sum(1 for t in toks[i:end] if not _is_digits(t) and t.text != ",")
        unit = after in _UNIT_WORDS
        lone = said == 1 and words == 1 and toks[i].low == "one"  # "one day I'll …"
        if words and (said >= 2 or words >= 2 or toks[i].low in _REPEATS or (unit and not lone)):
            # A range's first end: "one or two days" → "1 or 2 days".
            if len(out) >= 2 and out[-1].low in ("or", "to") and _is_word_number(out[-2].low):
                value = _cardinal_at(out, len(out) - 2)
                if value is not None:
                    out[-2] = _Tok(str(value[0]), out[-2].space)
            out += _written(chunks, toks[i].space, commas=unit)
            i = end
            continue
        out += toks[i:end]
        i = end
    return out


def _run_at(toks: list[_Tok], i: int) -> tuple[int, int, list[_Chunk]]:
    """(end, numbers said, chunks) of the run of numbers starting at `i`; commas between numbers belong to the
    run ("oh six, twelve"). No chunks when no number starts at `i`."""
    chunks: list[_Chunk | None] = []  # None: a comma, which ends a group of joined digits
    j = i
    while j < len(toks):
        low = toks[j].low
        if _is_digits(toks[j]):
            chunks.append(_Chunk(toks[j].text, False))
            j += 1
        elif low == "oh" or low == "o":
            # "oh" is zero only inside digits: "oh six one …", not "oh, one more thing".
            nxt = toks[j + 1].low if j + 1 < len(toks) else ""
            prev_digit = bool(chunks) and chunks[-1] is not None
            following = _digits_following(toks, j + 1)
            if nxt in _UNITS and (prev_digit or following >= 2) or prev_digit and nxt in ("", ","):
                chunks.append(_Chunk("0", True))
                j += 1
            else:
                break
        elif (
            low in _REPEATS
            and j + 1 < len(toks)
            and (toks[j + 1].low in _UNITS or toks[j + 1].low in ("oh", "o") or _digit(toks[j + 1]))
        ):
            # "double seven", "double oh", and Whisper's "Double 7".
            nxt = toks[j + 1].low
            digit = "0" if nxt in ("oh", "o") else nxt if nxt.isdigit() else str(_UNITS[nxt])
            chunks.append(_Chunk(digit * _REPEATS[low], True))
            j += 2
        elif low == "," and chunks and chunks[-1] is not None and _starts_number(toks, j + 1):
            chunks.append(None)
            j += 1
        else:
            found = _compound_at(toks, j)
            if found is None:
                break
            value, used = found
            chunks.append(_Chunk(str(value), used == 1 and toks[j].low in _UNITS))
            j += used
    while chunks and chunks[-1] is None:
        chunks.pop()
        j -= 1
    return j, sum(c is not None for c in chunks), _joined(chunks)


def _starts_number(toks: list[_Tok], j: int) -> bool:
    if j >= len(toks):
        return False
    low = toks[j].low
    return _is_digits(toks[j]) or _is_word_number(low) or low in _REPEATS or low in ("oh", "o")


def _digits_following(toks: list[_Tok], j: int) -> int:
    """How many number tokens follow `j` (commas skipped): "oh six, twelve" has two."""
    count = 0
    while j < len(toks) and (_starts_number(toks, j) or toks[j].low == ","):
        count += toks[j].low != ","
        j += 1
    return count


def _compound_at(toks: list[_Tok], i: int) -> tuple[int, int] | None:
    """(value, tokens used) of "three hundred and twenty", "two thousand five", "forty two"."""
    total, j = 0, i
    low = toks[i].low if i < len(toks) else ""
    if low == "a" and i + 1 < len(toks) and toks[i + 1].low in _SCALES:
        head: tuple[int, int] | None = (1, 1)
    else:
        head = _cardinal_at(toks, i)
    if head is None:
        return None
    current, j = head[0], i + head[1]
    while j < len(toks) and toks[j].low in _SCALES:
        scale = _SCALES[toks[j].low]
        j += 1
        if scale == 1000:
            total += current * 1000
            current = 0
        else:
            current *= 100
        k = j + 1 if j < len(toks) and toks[j].low == "and" else j
        rest = _cardinal_at(toks, k)
        if rest is not None and (k == j + 1 or toks[j - 1].low in _SCALES):
            current += rest[0]
            j = k + rest[1]
    if low == "a" and j == i + 1:
        return None
    return total + current, j - i


def _joined(chunks: list[_Chunk | None]) -> list[_Chunk]:
    """Adjacent single digits join ("oh six" → "06"); commas separate groups."""
    out: list[_Chunk] = []
    joinable = comma = False
    for chunk in chunks:
        if chunk is None:
            joinable, comma = False, True
            continue
        if chunk.single_digit and joinable and out:
            out[-1] = _Chunk(out[-1].text + chunk.text, True, out[-1].after_comma)
        else:
            out.append(_Chunk(chunk.text, chunk.single_digit, comma))
        joinable, comma = chunk.single_digit, False
    return out


def _written(chunks: list[_Chunk], space: bool, *, commas: bool) -> list[_Tok]:
    """The run's digits; `commas` keeps the caller's commas ("ten, fifteen minutes" is a
    range, "10, 15 minutes"), else groups are spaced like a phone number ("06 12")."""
    if len(chunks) == 2 and chunks[0].text in ("19", "20") and len(chunks[1].text) == 2:
        # A year: "nineteen eighty five" → "1985", "twenty oh five" → "2005".
        return [_Tok(chunks[0].text + chunks[1].text, space)]
    out: list[_Tok] = []
    for k, chunk in enumerate(chunks):
        if commas and chunk.after_comma:
            out.append(_Tok(",", False))
        out.append(_Tok(chunk.text, space if k == 0 else True))
    return out


# ---- spelled codes -----------------------------------------------------------------------
def _letter(tok: _Tok) -> bool:
    """A spelled letter: one letter, but never the article "a" written in lower case."""
    return len(tok.text) == 1 and tok.text.isalpha() and tok.text != "a"


def _codes(toks: list[_Tok]) -> list[_Tok]:
    """Spelled letters, with the digits said after them, → one code: "A B C 123" → "ABC123".
    "I" and "a" are words, so a run of only those is never a code."""
    out: list[_Tok] = []
    i = 0
    while i < len(toks):
        j = i
        letters: list[str] = []
        ends: list[int] = []  # where the run ends after each piece
        while j < len(toks):
            # Whisper may write a spelled code with commas: "x, y, z, 4, 5, 6".
            k = j + 1 if letters and toks[j].text == "," else j
            if k >= len(toks):
                break
            if letters and _is_digits(toks[k]):  # "A B 12 C D": a plate goes on after digits
                letters.append(toks[k].text)
                j = k + 1
            elif _letter(toks[k]):
                letters.append(toks[k].text.upper())
                j = k + 1
            elif toks[k].low in _REPEATS and k + 1 < len(toks) and _letter(toks[k + 1]):
                letters.append(toks[k + 1].text.upper() * _REPEATS[toks[k].low])
                j = k + 2
            else:
                break
            ends.append(j)
        while letters and letters[-1] == "I" and toks[ends[-1] - 1].text == "I":  # "plan B I"
            letters.pop()
            ends.pop()
        j = ends[-1] if ends else i
        spelled = "".join(x for x in letters if x.isalpha())
        real = [x for x in spelled if x not in ("A", "I")]
        if len(spelled) >= 2 and (real or len(spelled) >= 3):
            out.append(_Tok("".join(letters), toks[i].space))
            i = j
            continue
        out.append(toks[i])
        i += 1
    return out
