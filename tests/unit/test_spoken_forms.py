"""Spoken numbers, times, dates and spelled codes are written out; ordinary words are not."""

from __future__ import annotations

import pytest

from agents.engine.spoken_forms import normalize_spoken
from tests.unit.test_judgement_dialogue import Call

REWRITTEN = [
    # digits said one by one, phone numbers
    ("oh six, twelve", "06 12"),
    ("my number is oh six one two three four five six seven eight", "my number is 0612345678"),
    ("one two three", "123"),
    ("it is oh two, double five, thirty one", "it is 02 55 31"),
    ("call me on oh seven seven double oh nine", "call me on 077009"),
    ("double seven", "77"),
    ("double oh seven", "007"),
    ("triple five", "555"),
    ("Double 7, Double 3.", "77 33."),  # as Whisper writes "double seven, double three"
    # mixed with digits the recogniser already wrote
    ("06 twelve 34", "06 12 34"),
    ("my code is 4 five 6", "my code is 4 5 6"),
    # amounts and counts
    ("twenty five euros", "25 euros"),
    ("five people", "5 people"),
    ("ten euros", "10 euros"),
    ("I am twenty five.", "I am 25."),
    ("Call me at oh six one two three.", "Call me at 06123."),
    ("Is that twenty five euros?", "Is that 25 euros?"),
    ("table for two people", "table for 2 people"),
    ("I am twenty five years old", "I am 25 years old"),
    ("three hundred and twenty euros", "320 euros"),
    ("a hundred euros", "100 euros"),
    ("one hundred percent", "100 percent"),
    ("two thousand five hundred dollars", "2500 dollars"),
    ("one or two days", "1 or 2 days"),
    ("ten, fifteen minutes", "10, 15 minutes"),
    ("nine one one", "911"),
    ("it takes two to three days", "it takes 2 to 3 days"),
    ("order number twelve thirty four", "order number 12 34"),
    ("in nineteen eighty five", "in 1985"),
    # times
    ("at half past three", "at 3:30"),
    ("quarter to five", "4:45"),
    ("at a quarter past nine", "at 9:15"),
    ("at ten past four", "at 4:10"),
    ("at ten thirty a.m.", "at 10:30 a.m."),
    ("at twenty to five", "at 4:40"),
    ("three o'clock", "3:00"),
    ("three thirty pm", "3:30 pm"),
    ("see you at seven oh five pm", "see you at 7:05 pm"),
    ("at 3 30 PM?", "at 3:30 PM?"),  # as Whisper writes "three thirty pm"
    # dates
    ("the fifth of March", "5 March"),
    ("the second of May please", "2 May please"),
    ("on May the fifth", "on May 5"),
    ("March the twenty first", "March 21"),
    ("Can I come on the 21st of June?", "Can I come on 21 June?"),
    ("fifth June", "5 June"),
    ("the fifth of may", "5 May"),
    # spelled codes and plates
    ("A B C one two three", "ABC123"),
    ("my plate is A B one two C D", "my plate is AB12CD"),
    ("the reference is X Y Z", "the reference is XYZ"),
    ("A B C.", "ABC."),
    ("My reference is x, y, z, 4, 5, 6.", "My reference is XYZ456."),  # as Whisper writes it
    ("double L", "LL"),
]

UNCHANGED = [
    "one of them",
    "one day I will call",
    "Mr. Smith",
    "U.S. office",
    "It is 10 A.M.",
    "I won",
    "a number of",
    "for you",
    "to be",
    "oh, one more thing",
    "oh one more thing",
    "no one",
    "someone",
    "the one thing",
    "I need one",
    "I want two",
    "we are two",
    "press one",
    "option two",
    "between one and two",
    "Is it open at nine?",
    "open from nine to five",
    "the first thing",
    "first of all",
    "the second may be wrong",
    "may the first one win",
    "may I help",
    "Hi, my name is Anna",
    "plan B I think",
    "plan B, I think",
    "I have 3 30 minute slots",
    "vitamin C a day",
    "I have a question",
    "I have 2 kids",
    "a double room",
    "the 21st century",
    "0612345678",
    "twelve",
    "zero",
    "",
]


@pytest.mark.parametrize(("heard", "written"), REWRITTEN)
def test_spoken_forms_are_written_out(heard: str, written: str) -> None:
    assert normalize_spoken(heard) == written


@pytest.mark.parametrize("heard", UNCHANGED)
def test_ordinary_words_and_written_digits_are_left_alone(heard: str) -> None:
    assert normalize_spoken(heard) == heard


def test_the_brain_reads_the_written_form() -> None:
    call = Call().say("my number is oh six one two three four five six seven eight")
    assert call.conversation.history[0]["text"] == "my number is 0612345678"


def test_a_spoken_number_alone_is_not_taken_for_noise() -> None:
    """Written out, "oh six one two" has no letters left; it was words, not an unclear sound."""
    call = Call().say("oh six one two")
    assert call.decision[0] != "unclear"
    assert call.conversation.history[0]["text"] == "0612"
