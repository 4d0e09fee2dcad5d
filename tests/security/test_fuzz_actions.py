"""Hypothesis fuzz of action templates and caller-controlled values against a local HTTP peer
that records what it receives.

Editors write the templates (any mix of values, filters, loops, secrets, widths); callers
control tool arguments, IVR parameters, digits and what they said. Whatever the mix:
- no request leaves the host its template names, and no path segment is added by a caller;
- no secret, in any form, reaches a host its admin did not allow, or the say, timeline or logs;
- the event loop is never blocked for more than 50 ms;
- every outcome is a result, never an exception.
Derandomized and bounded: the same examples every run, in a few seconds.
"""

from __future__ import annotations

import base64
import logging
from urllib.parse import quote, unquote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agents.actions.context import CallContext
from agents.actions.runner import run_action
from stellar.kernel.phone import check_destination
from tests.peers import Reply
from tests.peers.http_api import HttpApiPeer
from tests.security.loop_lag import MAX_LAG_SECONDS, run_with_least_lag, warm_up_http

SECRET = "Fz9-secret-Q7w"
TOKEN = "tok-fuzz-8812"
ALLOWED = "127.0.0.1"
OTHER = "localhost"
FUZZ = settings(
    max_examples=120,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def secret_forms(value: str) -> list[str]:
    forms = {value, value.upper(), value.lower(), value[::-1], " ".join(value), quote(value)}
    forms.add(base64.b64encode(value.encode()).decode().rstrip("="))
    return sorted(forms)


FORBIDDEN = secret_forms(SECRET) + secret_forms(TOKEN)

# What a caller controls: anything, with the characters that would reshape a request.
caller_text = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "../../admin/users/1?force=true#",
            "..",
            "a/b",
            '", "admin": true, "x": "',
            "1\r\nX-Admin: yes",
            "x?y=1&z=2",
            "@evil.example",
            "%2e%2e%2f",
            "{{ secrets.KEY }}",
            "{% debug %}",
        ]
    ),
)

# What an editor writes: fragments of templates, joined.
fragment = st.one_of(
    st.sampled_from(
        [
            "x",
            "/",
            "-",
            "{{ args.a }}",
            "{{ args.b|upper }}",
            "{{ args.a|urlencode }}",
            "{{ call.digits }}",
            "{{ call.speech }}",
            "{{ call.account }}",
            "{{ variables.NAME }}",
            "{{ secrets.KEY }}",
            "{{ secrets.KEY|lower }}",
            "{{ secrets }}",
            "{{ secrets.KEY.0 }}",
            "{% filter upper %}{{ secrets.KEY }}{% endfilter %}",
            "{% for c in args.a %}{{ c }}{% endfor %}",
            "{% for c in args.a %}{% for d in args.b %}{{ c }}{{ d }}{% endfor %}{% endfor %}",
            "{% if args.a %}{{ args.a }}{% else %}none{% endif %}",
            "{{ args.a|add:args.b }}",
            "{{ args.a|make_list|join:' ' }}",
        ]
    ),
    st.integers(min_value=0, max_value=10**10).map(lambda n: f'{{{{ args.a|ljust:"{n}" }}}}'),
    st.integers(min_value=0, max_value=10**6).map(lambda n: f'{{{{ 1|floatformat:"{n}" }}}}'),
)
template = st.lists(fragment, max_size=6).map("".join)


@pytest.fixture(scope="module")
def peer():
    warm_up_http()
    with HttpApiPeer() as recorder:
        recorder.routes.update({f"/p/{i}": Reply(body={"ok": True}) for i in range(3)})
        yield recorder


@pytest.fixture
def logs(caplog):
    caplog.set_level(logging.DEBUG)
    return caplog


def context(peer: HttpApiPeer, call: dict[str, str]) -> CallContext:
    return CallContext(
        call={"from": "+31612345678", "to": "+31201234567", "sid": "CA1", **call},
        variables={"NAME": "shop"},
        secrets={"KEY": SECRET},
        secret_hosts={"KEY": [ALLOWED]},
        auth={
            "crm": {"kind": "bearer", "allowed_hosts": [ALLOWED], "credentials": {"token": TOKEN}}
        },
    )


def run_measured(action: dict, ctx: CallContext, arguments: dict, before_each=lambda: None):
    return run_with_least_lag(lambda: run_action(action, ctx, arguments=arguments), before_each)


def assert_nothing_leaked(result, logs) -> None:
    stored = f"{result.say}\n{result.outcome}\n{result.inputs!r}\n{logs.text}"
    for form in FORBIDDEN:
        assert form not in stored


@FUZZ
@given(
    host=st.sampled_from([ALLOWED, OTHER]),
    prefix=st.sampled_from(["/p/0/", "/p/1?q=", "/p/2/"]),
    url_tail=template,
    header=template,
    body=st.one_of(template, template.map(lambda t: '{"v": "' + t + '", "n": 1}')),
    method=st.sampled_from(["GET", "POST"]),
    use_auth=st.booleans(),
    a=caller_text,
    b=caller_text,
    digits=st.text(alphabet="0123456789*#", max_size=8),
    speech=caller_text,
    account=caller_text,
)
def test_api_call_templates_and_caller_values_never_leave_their_host_or_leak(
    peer,
    logs,
    host,
    prefix,
    url_tail,
    header,
    body,
    method,
    use_auth,
    a,
    b,
    digits,
    speech,
    account,
):
    port = peer.root_url.rsplit(":", 1)[1]
    action = {
        "name": "fuzzed",
        "kind": "api_call",
        "config": {
            "method": method,
            "url": f"http://{host}:{port}{prefix}{url_tail}",
            "headers": {"X-Fuzz": header},
            "body": body if method == "POST" else "",
            "response_template": "{{ result.ok }} " + url_tail,
            "timeout_seconds": 2,
            **({"auth_connector": "crm"} if use_auth else {}),
        },
    }
    ctx = context(peer, {"digits": digits, "speech": speech, "account": account})

    def fresh() -> None:
        peer.requests.clear()
        logs.clear()

    result, lag = run_measured(action, ctx, {"a": a, "b": b}, fresh)

    assert lag < MAX_LAG_SECONDS
    assert len(peer.requests) <= 1
    for request in peer.requests:
        # The request went where the template pointed, under the template's own first segment.
        assert request.headers["host"] == f"{host}:{port}"
        assert unquote(request.path).startswith(prefix.split("?")[0].rstrip("/"))
        assert request.path.split("/")[1:3] == ["p", prefix[3]]
        if host != ALLOWED:
            seen = f"{request.path}?{request.query}\n{request.headers}\n{request.body!r}"
            for form in FORBIDDEN:
                assert form not in seen
        assert "x-admin" not in request.headers
    assert_nothing_leaked(result, logs)


@FUZZ
@given(
    kind=st.sampled_from(["static_response", "end_call", "send_sms"]),
    text=template,
    a=caller_text,
    b=caller_text,
    to=st.one_of(caller_text, st.sampled_from(["+19005551234", "+31612345678", "+33810123456"])),
)
def test_spoken_and_texted_templates_never_say_a_secret_or_block_the_loop(
    peer, logs, kind, text, a, b, to
):
    texts: list[tuple[str, str]] = []

    async def send_sms(number: str, message: str) -> str:
        texts.append((number, message))
        return "SM1"

    key = {"static_response": "response", "end_call": "goodbye", "send_sms": "body"}[kind]
    config = {key: text, **({"to": "{{ args.to }}"} if kind == "send_sms" else {})}
    ctx = context(peer, {})
    ctx.send_sms = send_sms

    def fresh() -> None:
        texts.clear()
        logs.clear()

    action = {"name": "f", "kind": kind, "config": config}
    result, lag = run_measured(action, ctx, {"a": a, "b": b, "to": to}, fresh)

    assert lag < MAX_LAG_SECONDS
    assert_nothing_leaked(result, logs)
    for number, message in texts:
        assert check_destination(number) == number  # an allowed country, not premium-rate
        assert all(form not in message for form in FORBIDDEN)
