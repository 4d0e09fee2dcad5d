"""One editor's template cannot stall every call on the process: templates render off the event
loop, within a time, output and loop budget, and fail as a clean action error.

The first case is the exploit from the security review: nested `{% for %}` loops and
`ljust:"2000000000"` in a static response, which used to block the event loop for every tenant.
"""

from __future__ import annotations

import pytest

from agents.actions.context import CallContext
from agents.actions.result import MAX_SAY_CHARS
from agents.actions.runner import run_action
from agents.actions.template_limits import MAX_RENDER_CHARS
from tests.peers import Reply
from tests.peers.http_api import HttpApiPeer
from tests.security.loop_lag import MAX_LAG_SECONDS, run_with_least_lag, warm_up_http

ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
NESTED = (
    f'{{% for a in "{ALPHABET}" %}}{{% for b in "{ALPHABET}" %}}{{% for c in "{ALPHABET}" %}}'
    f'{{% for d in "{ALPHABET}" %}}x{{% endfor %}}{{% endfor %}}{{% endfor %}}{{% endfor %}}'
)


@pytest.fixture(scope="module", autouse=True)
def _warm() -> None:
    warm_up_http()


def spoken(text: str) -> dict:
    return {"name": "say", "kind": "static_response", "config": {"response": text}}


def run_measured(action: dict, ctx: CallContext | None = None):
    context = ctx or CallContext(call={"from": "+31612345678"})
    return run_with_least_lag(lambda: run_action(action, context))


@pytest.mark.parametrize(
    ("template", "reason"),
    [
        (NESTED, "looped more than"),
        ('{{ "a"|ljust:"2000000000" }}', "wider than"),
        ('{{ "a"|center:"2000000000" }}', "wider than"),
        ('{{ "a"|stringformat:"2000000000s" }}', "too wide"),
        ('{{ 1|floatformat:"100000" }}', "too many digits"),
        ("{% lorem 100000000 w %}", "Invalid block tag"),
    ],
)
def test_a_runaway_template_fails_cleanly_without_blocking_the_event_loop(template, reason):
    # Given a static response built to run for minutes or allocate gigabytes
    # When a call triggers it
    result, lag = run_measured(spoken(template))
    # Then the action fails with a clear reason and the loop kept ticking
    assert not result.ok
    assert reason in result.outcome
    assert result.say == ""
    assert lag < MAX_LAG_SECONDS


def test_output_past_the_limit_fails_however_it_is_produced():
    chunk = "y" * 1000
    template = '{% for i in "' + "z" * 200 + '" %}' + chunk + "{% endfor %}"
    result, lag = run_measured(spoken(template))
    assert not result.ok
    assert f"more than {MAX_RENDER_CHARS:,} characters" in result.outcome
    assert lag < MAX_LAG_SECONDS


def test_doubling_with_add_is_stopped_at_the_output_limit():
    template = '{% with a="xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" %}'
    for name in "bcdefghijklmnopq":
        previous = chr(ord(name) - 1)
        template += f"{{% with {name}={previous}|add:{previous} %}}"
    template += "{{ q }}" + "{% endwith %}" * 17
    result, _lag = run_measured(spoken(template))
    assert not result.ok
    assert "characters" in result.outcome


def answer_from(text: str):
    with HttpApiPeer({"/big": Reply(body={"text": text})}) as peer:
        action = {
            "name": "big",
            "kind": "api_call",
            "config": {"url": peer.url("/big"), "response_template": "{{ result.text }}"},
        }
        return run_measured(action)


def test_a_large_api_response_is_cut_to_a_short_answer_at_a_sentence_end():
    result, lag = answer_from(" ".join(f"Item {i} is ready." for i in range(3_000)))
    assert result.ok
    assert 0 < len(result.say) <= MAX_SAY_CHARS
    assert result.say.endswith("ready.")
    assert "cut from" in result.outcome
    assert lag < MAX_LAG_SECONDS


def test_a_one_megabyte_api_response_never_becomes_one_say():
    result, lag = answer_from("x" * 900_000)
    assert not result.ok
    assert result.say == ""
    assert "characters" in result.outcome
    assert lag < MAX_LAG_SECONDS


def test_an_ordinary_template_still_renders():
    result, _lag = run_measured(spoken("{% for c in 'abc' %}{{ c|upper }}{% endfor %} ok"))
    assert result.ok and result.say == "ABC ok"
