"""Agent actions against a real local HTTP API: auth per kind, templates, redaction, SMS."""

from __future__ import annotations

import asyncio
import base64
import logging
import time

import pytest

from agents.actions.context import CallContext
from agents.actions.runner import redact, run_action
from tests.peers import Reply
from tests.peers.http_api import HttpApiPeer

SECRET = "s3cr3t-crm-key-9f8e7d"
CALLER = "+31612345678"
APOLOGY = "Sorry, I couldn't complete that right now."


def make_ctx(api: HttpApiPeer, *, auth: dict | None = None, **overrides) -> CallContext:
    # The local API's host is where the admin allowed the secret and the connectors to go.
    values = {
        "call": {"from": CALLER, "to": "+31201234567", "sid": "CA123", "digits": "2"},
        "variables": {"API_BASE": api.root_url, "SHOP": "Stellar Shop"},
        "secrets": {"CRM_KEY": SECRET},
        "secret_hosts": {"CRM_KEY": ["127.0.0.1"]},
        "auth": {n: {"allowed_hosts": ["127.0.0.1"], **c} for n, c in (auth or {}).items()},
        **overrides,
    }
    return CallContext(**values)


def lookup_action(**config) -> dict:
    return {
        "name": "lookup_order",
        "description": "Look up an order by its number.",
        "kind": "api_call",
        "config": {
            "method": "GET",
            "url": "{{ variables.API_BASE }}/orders/{{ args.order_id }}",
            "response_template": "Your order is {{ result.status }}.",
            **config,
        },
    }


def run(action: dict, ctx: CallContext, arguments: dict | None = None):
    return asyncio.run(run_action(action, ctx, arguments=arguments))


@pytest.fixture
def api():
    routes = {"/orders/42": Reply(body={"status": "shipped", "eta": "tomorrow"})}
    with HttpApiPeer(routes, clients={"stellar-dev": "dev-client-secret"}) as peer:
        yield peer


@pytest.fixture
def logs(caplog):
    caplog.set_level(logging.DEBUG)
    return caplog


def assert_never_exposed(result, logs, *values: str) -> None:
    for value in values:
        assert value not in repr(result.inputs)
        assert value not in result.outcome
        assert value not in result.say
        assert value not in logs.text


def test_api_call_renders_templates_and_answers_from_the_response(api, logs):
    # Given an API call whose URL, headers and body use args, call, variables and secrets
    action = lookup_action(
        method="POST",
        url="{{ variables.API_BASE }}/orders/{{ args.order_id }}?digits={{ call.digits }}",
        headers={"X-Crm-Key": "{{ secrets.CRM_KEY }}", "X-Shop": "{{ variables.SHOP }}"},
        body='{"caller": "{{ call.from }}", "missing": "{{ variables.NOPE }}"}',
    )
    # When it runs
    result = run(action, make_ctx(api), {"order_id": "42"})
    # Then the API got the rendered request and the agent can say the answer
    (request,) = api.requests
    assert (request.method, request.path, request.query) == (
        "POST",
        "/orders/42",
        {"digits": ["2"]},
    )
    assert request.headers["x-crm-key"] == SECRET
    assert request.headers["x-shop"] == "Stellar Shop"
    assert request.headers["content-type"] == "application/json"
    assert request.json() == {"caller": CALLER, "missing": ""}
    assert result.ok
    assert result.say == "Your order is shipped."
    assert result.data == {"status": "shipped", "eta": "tomorrow"}
    assert result.outcome.startswith("HTTP 200 from POST http://127.0.0.1")
    # and the secret is masked in everything stored or logged
    assert result.inputs["headers"]["X-Crm-Key"] == "••••••"
    assert result.inputs["url"].endswith("/orders/42?digits=2")
    assert_never_exposed(result, logs, SECRET)
    assert "lookup_order" in logs.text


@pytest.mark.parametrize(
    ("connector", "header", "expected"),
    [
        (
            {"kind": "bearer", "credentials": {"token": "tok-abc-123456"}},
            "authorization",
            "Bearer tok-abc-123456",
        ),
        (
            {"kind": "api_key", "header_name": "X-Shop-Key", "credentials": {"key": "key-777888"}},
            "x-shop-key",
            "key-777888",
        ),
        (
            {"kind": "api_key", "header_name": "", "credentials": {"key": "key-777888"}},
            "x-api-key",
            "key-777888",
        ),
        (
            {"kind": "basic", "credentials": {"username": "shop-user", "password": "pw-999000"}},
            "authorization",
            "Basic " + base64.b64encode(b"shop-user:pw-999000").decode(),
        ),
    ],
    ids=["bearer", "api_key", "api_key_default_header", "basic"],
)
def test_api_call_authenticates_per_connector_kind(api, logs, connector, header, expected):
    ctx = make_ctx(api, auth={"shop": connector})
    result = run(lookup_action(auth_connector="shop"), ctx, {"order_id": "42"})
    assert result.ok, result.outcome
    (request,) = api.requests
    assert request.headers[header] == expected
    masked = next(v for k, v in result.inputs["headers"].items() if k.lower() == header)
    assert masked == "••••••"
    assert_never_exposed(result, logs, *connector["credentials"].values())


def test_oauth2_client_credentials_fetches_a_token_once_per_call(api, logs):
    connector = {
        "kind": "oauth2_cc",
        "token_url": api.url("/oauth/token"),
        "scope": "orders.read",
        "credentials": {"client_id": "stellar-dev", "client_secret": "dev-client-secret"},
    }
    ctx = make_ctx(api, auth={"shop": connector})
    action = lookup_action(auth_connector="shop")

    first = run(action, ctx, {"order_id": "42"})
    second = run(action, ctx, {"order_id": "42"})

    assert first.ok and second.ok
    (token_request,) = api.token_requests()
    assert token_request.form() == {
        "grant_type": "client_credentials",
        "client_id": "stellar-dev",
        "client_secret": "dev-client-secret",
        "scope": "orders.read",
    }
    token = api.issued_tokens[0]
    assert [r.headers["authorization"] for r in api.api_requests()] == [f"Bearer {token}"] * 2
    assert_never_exposed(first, logs, "dev-client-secret", token)

    # A new call fetches its own token.
    run(action, make_ctx(api, auth={"shop": connector}), {"order_id": "42"})
    assert len(api.token_requests()) == 2


def test_oauth2_refused_client_fails_without_calling_the_api(api):
    connector = {
        "kind": "oauth2_cc",
        "token_url": api.url("/oauth/token"),
        "credentials": {"client_id": "stellar-dev", "client_secret": "wrong"},
    }
    result = run(lookup_action(auth_connector="shop"), make_ctx(api, auth={"shop": connector}))
    assert not result.ok
    assert result.say == APOLOGY
    assert "HTTP 401" in result.outcome
    assert api.api_requests() == []


def test_same_action_sends_each_environments_credentials(api):
    action = lookup_action(auth_connector="shop", headers={"X-Env": "{{ variables.ENV_NAME }}"})
    development = make_ctx(
        api,
        environment="development",
        variables={"API_BASE": api.root_url, "ENV_NAME": "dev"},
        auth={"shop": {"kind": "bearer", "credentials": {"token": "dev-token-1"}}},
    )
    production = make_ctx(
        api,
        environment="production",
        variables={"API_BASE": api.root_url, "ENV_NAME": "prod"},
        auth={"shop": {"kind": "bearer", "credentials": {"token": "prod-token-2"}}},
    )
    run(action, development, {"order_id": "42"})
    run(action, production, {"order_id": "42"})
    sent = [(r.headers["authorization"], r.headers["x-env"]) for r in api.requests]
    assert sent == [("Bearer dev-token-1", "dev"), ("Bearer prod-token-2", "prod")]


def test_missing_connector_credentials_fail_clearly(api):
    result = run(lookup_action(auth_connector="shop"), make_ctx(api, environment="production"))
    assert not result.ok
    assert "'shop'" in result.outcome and "production" in result.outcome
    assert api.requests == []


def test_api_call_timeout_gives_an_apology(api, logs):
    api.routes["/slow"] = Reply(body={"status": "late"}, delay=5)
    action = lookup_action(url="{{ variables.API_BASE }}/slow", timeout_seconds=0.3)
    started = time.monotonic()
    result = run(action, make_ctx(api))
    assert time.monotonic() - started < 2
    assert not result.ok
    assert result.say == APOLOGY
    assert "timed out" in result.outcome


def test_api_error_status_is_a_failure_and_secrets_in_the_url_are_masked(api, logs):
    action = lookup_action(url="{{ variables.API_BASE }}/keys/{{ secrets.CRM_KEY }}")
    result = run(action, make_ctx(api))
    assert api.requests[0].path == f"/keys/{SECRET}"
    assert not result.ok
    assert result.say == APOLOGY
    assert result.outcome.startswith("HTTP 404 from GET")
    assert "/keys/••••••" in result.outcome
    assert_never_exposed(result, logs, SECRET)


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://127.0.0.1/x", "", "{{ nope }}"])
def test_only_http_urls_are_called(api, url):
    result = run(lookup_action(url=url), make_ctx(api))
    assert not result.ok
    assert "Refused URL" in result.outcome
    assert api.requests == []


def test_template_syntax_error_is_reported_before_any_request(api):
    action = lookup_action(response_template="Your order is {% if result.status %}")
    result = run(action, make_ctx(api), {"order_id": "42"})
    assert not result.ok
    assert "Template error" in result.outcome
    assert api.requests == []


def test_templates_cannot_dump_their_context(api):
    action = {"name": "leak", "kind": "static_response", "config": {"response": "{% debug %}"}}
    result = run(action, make_ctx(api))
    assert not result.ok
    assert SECRET not in result.outcome


def test_static_response_and_end_call_say_their_rendered_lines(api):
    ctx = make_ctx(api)
    hours = {
        "name": "opening_hours",
        "kind": "static_response",
        "config": {"response": "{{ variables.SHOP }} is open nine to five."},
    }
    goodbye = {
        "name": "hang_up",
        "kind": "end_call",
        "config": {"goodbye": "Thanks for calling {{ variables.SHOP }}. Bye!"},
    }
    said = run(hours, ctx)
    ended = run(goodbye, ctx)
    assert (said.ok, said.say, said.end_call) == (True, "Stellar Shop is open nine to five.", False)
    assert (ended.ok, ended.say, ended.end_call) == (
        True,
        "Thanks for calling Stellar Shop. Bye!",
        True,
    )


def test_send_sms_goes_through_the_call_session_with_rendered_to_and_body(api, logs):
    sent = []

    async def send_sms(to: str, body: str) -> str:
        sent.append((to, body))
        return "SM0123"

    ctx = make_ctx(api, send_sms=send_sms)
    action = {
        "name": "text_directions",
        "kind": "send_sms",
        "config": {"body": "{{ variables.SHOP }}: Main St 1. You pressed {{ call.digits }}."},
    }
    result = run(action, ctx)
    assert sent == [(CALLER, "Stellar Shop: Main St 1. You pressed 2.")]
    assert result.ok
    assert result.outcome == f"Text sent to {CALLER}."
    assert result.data == {"sid": "SM0123", "to": CALLER}

    other = {**action, "config": {**action["config"], "to": "{{ args.number }}"}}
    run(other, ctx, {"number": "+31687654321"})
    assert sent[-1][0] == "+31687654321"


def test_send_sms_failure_and_unavailable_are_reported(api):
    async def failing(to: str, body: str) -> str:
        raise RuntimeError("21610: unsubscribed recipient")

    action = {"name": "text_me", "kind": "send_sms", "config": {"body": "Hi"}}
    failed = run(action, make_ctx(api, send_sms=failing))
    assert not failed.ok
    assert "21610" in failed.outcome and CALLER in failed.outcome
    unavailable = run(action, make_ctx(api))
    assert not unavailable.ok
    assert "cannot be sent" in unavailable.outcome


def test_redact_masks_nested_values_and_their_encoded_forms():
    secrets = {"A": "p@ss word", "B": "tok"}
    value = {"url": "http://x/?k=p%40ss%20word", "list": ["a tok b", ("p@ss word",)], "n": 3}
    assert redact(value, secrets) == {
        "url": "http://x/?k=••••••",
        "list": ["a •••••• b", ("••••••",)],
        "n": 3,
    }
