"""Cutting a streamed reply into sentences the voice can start speaking."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.engine.sentences import SentenceSplitter, clean, split_sentences


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hello there. How are you? Great!", ["Hello there.", "How are you?", "Great!"]),
        ("It costs 3.50 euros. Okay?", ["It costs 3.50 euros.", "Okay?"]),
        (
            "Bring a document, e.g. a passport. Thanks.",
            ["Bring a document, e.g. a passport.", "Thanks."],
        ),
        ("Ask Mr. Jansen or Dr. Smit. They know.", ["Ask Mr. Jansen or Dr. Smit.", "They know."]),
        (
            'He said "wait." Then he left...  Really?!',
            ['He said "wait."', "Then he left...", "Really?!"],
        ),
        ("We open at 9 a.m. tomorrow.", ["We open at 9 a.m. tomorrow."]),
        ("Options:\n1. Pickup\n2. Delivery", ["Options:", "1. Pickup", "2. Delivery"]),
        ("**Yes**, we ship to Belgium.", ["Yes, we ship to Belgium."]),
        ("No ending here", ["No ending here"]),
        ("", []),
    ],
)
def test_split_sentences(text, expected):
    assert split_sentences(text) == expected


def test_a_sentence_is_released_as_soon_as_the_next_one_starts():
    splitter = SentenceSplitter()
    assert splitter.feed("Sure") == []
    assert splitter.feed(", we are open.") == []  # "open." might still become "open.5"
    assert splitter.feed(" We") == ["Sure, we are open."]
    assert splitter.feed(" close at 5.") == []
    assert splitter.flush() == ["We close at 5."]
    assert splitter.flush() == []


def test_a_long_clause_is_cut_after_a_comma():
    clause = "When you arrive at the main entrance of the building on the north side, "
    rest = "take the lift to the third floor and follow the signs for the customer desk"
    splitter = SentenceSplitter()
    assert splitter.feed(clause + rest) == [clause.strip()]
    assert splitter.flush() == [rest]


def test_a_very_long_run_without_commas_is_cut_at_a_space():
    words = " ".join(["word"] * 100)  # 499 characters, no ending, no comma
    pieces = split_sentences(words)
    assert len(pieces) > 1
    assert all(len(p) <= 240 for p in pieces)
    assert " ".join(pieces) == words


SPEECH = st.text(alphabet="abcXYZ 019.,!?\n'\"", max_size=400)


@settings(max_examples=300, deadline=None)
@given(text=SPEECH, cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=30))
def test_fragmenting_the_stream_never_changes_the_sentences(text, cuts):
    splitter = SentenceSplitter()
    streamed = []
    start = 0
    for cut in sorted(c for c in cuts if c <= len(text)):
        streamed += splitter.feed(text[start:cut])
        start = cut
    streamed += splitter.feed(text[start:]) + splitter.flush()
    assert streamed == split_sentences(text)


@settings(max_examples=300, deadline=None)
@given(text=SPEECH)
def test_no_words_are_lost_or_invented(text):
    pieces = split_sentences(text)
    assert " ".join(pieces) == clean(text)
    assert all(piece and piece == piece.strip() for piece in pieces)
