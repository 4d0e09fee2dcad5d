"""Caller input is data: it cannot reroute a request, add JSON keys or headers, or dial a
premium-rate number.

The first case is the exploit from the security review: an order number spoken by the caller,
`../../admin/users/1?force=true#`, reroutes an API call made with the workspace's credentials.
"""

from __future__ import annotations

import asyncio

import pytest
from django.core.exceptions import ValidationError

from agents.actions.context import CallContext
from agents.actions.runner import run_action
from agents.config.services import workspace_create
from agents.models import Environment, Role
from calls.live.listen import take_over_action
from calls.live.playground import playground_session_create
from handovers.services import handover_action_create
from stellar.kernel.phone import check_destination
from tests.factories import agent_make, user_make
from tests.peers import Reply
from tests.peers.http_api import HttpApiPeer
from tests.twilio_call import build_line

CALLER = "+31612345678"
PREMIUM_US = "+19005551234"  # NANP 900: premium rate
SHARED_COST_FR = "+33810123456"  # France 0810: shared cost
PERSONAL_GB = "+447012345678"  # UK 070: personal (follow-me) number
NOT_ALLOWED_COUNTRY = "+2348031234567"  # Nigeria, mobile: not in the default list


def ctx(peer: HttpApiPeer, **overrides) -> CallContext:
    values = {
        "call": {"from": CALLER, "to": "+31201234567", "sid": "CA1"},
        "variables": {"API": peer.root_url},
        "auth": {
            "crm": {
                "kind": "bearer",
                "allowed_hosts": ["127.0.0.1"],
                "credentials": {"token": "workspace-token"},
            }
        },
    }
    return CallContext(**{**values, **overrides})


def api_call(url: str, **config) -> dict:
    return {
        "name": "lookup_order",
        "kind": "api_call",
        "config": {"method": "GET", "url": url, "response_template": "ok", **config},
    }


def run(action: dict, context: CallContext, arguments: dict | None = None):
    return asyncio.run(run_action(action, context, arguments=arguments))


@pytest.fixture
def peer():
    with HttpApiPeer({"/admin/users/1": Reply(body={"deleted": True})}) as p:
        yield p


# The exploit --------------------------------------------------------------------------------


def test_a_spoken_order_number_cannot_reroute_the_request(peer):
    # Given an action whose path holds the caller's order number, sent with the workspace token
    action = api_call("{{ variables.API }}/orders/{{ args.order_id }}", auth_connector="crm")
    # When the caller's "order number" is a path traversal with a query and a fragment
    run(action, ctx(peer), {"order_id": "../../admin/users/1?force=true#"})
    # Then the request stays on /orders/, with the whole value as one encoded segment
    (request,) = peer.requests
    assert request.path == "/orders/..%2F..%2Fadmin%2Fusers%2F1%3Fforce%3Dtrue%23"
    assert request.query == {}


@pytest.mark.parametrize("value", ["..", ".", "a/b", "x?y=1", "x#y", "@evil.example", "a:b"])
def test_every_caller_value_stays_inside_its_path_segment(peer, value):
    run(api_call("{{ variables.API }}/orders/{{ args.id }}/lines"), ctx(peer), {"id": value})
    (request,) = peer.requests
    segments = request.path.split("/")
    assert segments[:2] == ["", "orders"] and segments[-1] == "lines" and len(segments) == 4
    assert request.query == {}


def test_ivr_parameters_and_digits_are_encoded_too(peer):
    context = ctx(peer)
    context.call = {**context.call, "digits": "1/../../admin", "Account": "7?x=1"}
    run(api_call("{{ variables.API }}/a/{{ call.digits }}/{{ call.account }}"), context)
    (request,) = peer.requests
    assert request.path == "/a/1%2F..%2F..%2Fadmin/7%3Fx%3D1"


def test_query_values_cannot_add_parameters(peer):
    action = api_call("{{ variables.API }}/orders?id={{ args.id }}")
    run(action, ctx(peer), {"id": "1&admin=true"})
    (request,) = peer.requests
    assert request.query == {"id": ["1&admin=true"]}


def test_a_json_body_value_cannot_add_a_key(peer):
    action = api_call(
        "{{ variables.API }}/customers", method="POST", body='{"name": "{{ args.name }}"}'
    )
    name = 'Eve", "admin": true, "x": "'
    run(action, ctx(peer), {"name": name})
    (request,) = peer.requests
    assert request.json() == {"name": name}


def test_a_value_outside_quotes_that_changes_the_json_structure_is_refused(peer):
    action = api_call(
        "{{ variables.API }}/customers", method="POST", body='{"count": {{ args.count }}}'
    )
    refused = run(action, ctx(peer), {"count": '1, "admin": true'})
    accepted = run(action, ctx(peer), {"count": "3"})
    assert not refused.ok and "JSON body" in refused.outcome
    (request,) = peer.requests
    assert accepted.outcome.startswith("HTTP 404") and request.json() == {"count": 3}


def test_a_text_body_is_sent_as_written(peer):
    action = api_call("{{ variables.API }}/notes", method="POST", body="note: {{ args.text }}")
    run(action, ctx(peer), {"text": 'a "quoted" line'})
    (request,) = peer.requests
    assert request.body == b'note: a "quoted" line'


@pytest.mark.parametrize("value", ["1\r\nX-Admin: yes", "1\nX-Admin: yes", "1\x00"])
def test_a_header_value_with_a_line_break_is_refused_and_nothing_is_sent(peer, value):
    action = api_call("{{ variables.API }}/orders", headers={"X-Order": "{{ args.id }}"})
    result = run(action, ctx(peer), {"id": value})
    assert peer.requests == []
    assert not result.ok
    assert "line break or a control character" in result.outcome


# Numbers we text or dial ---------------------------------------------------------------------


def sms_action(to: str = "{{ args.number }}") -> dict:
    return {"name": "text", "kind": "send_sms", "config": {"to": to, "body": "Your code"}}


@pytest.mark.parametrize(
    ("number", "reason"),
    [
        (PREMIUM_US, "premium-rate"),
        (SHARED_COST_FR, "shared-cost"),
        (PERSONAL_GB, "personal"),
        (NOT_ALLOWED_COUNTRY, "country (NG)"),
    ],
)
def test_a_text_to_a_number_from_the_caller_never_reaches_a_costly_destination(
    peer, number, reason
):
    sent: list[str] = []

    async def send_sms(to: str, body: str) -> str:
        sent.append(to)
        return "SM1"

    result = run(sms_action(), ctx(peer, send_sms=send_sms), {"number": number})
    assert sent == []
    assert not result.ok
    assert reason in result.outcome


def test_a_text_to_an_ordinary_number_in_an_allowed_country_is_sent(peer):
    sent: list[str] = []

    async def send_sms(to: str, body: str) -> str:
        sent.append(to)
        return "SM1"

    result = run(sms_action(), ctx(peer, send_sms=send_sms), {"number": CALLER})
    assert result.ok and sent == [CALLER]


def test_the_allowed_countries_come_from_the_setting(settings):
    settings.STELLAR_ALLOWED_DESTINATION_COUNTRIES = ["NL"]
    assert check_destination("+31 6 1234 5678") == CALLER
    with pytest.raises(ValidationError, match=r"country \(BE\)"):
        check_destination("+32470123456")


@pytest.mark.django_db
def test_a_handover_to_a_premium_rate_number_cannot_be_saved():
    agent = agent_make(workspace=workspace_create(name="Acme", owner=user_make("owner")))
    with pytest.raises(ValidationError) as refused:
        handover_action_create(
            agent=agent, name="to_premium", description="Premium.", destination=PREMIUM_US
        )
    assert "premium-rate" in str(refused.value.message_dict["destination"])
    with pytest.raises(ValidationError) as extra:
        handover_action_create(
            agent=agent,
            name="with_extra",
            description="Extra.",
            destination=CALLER,
            extra_destinations=[SHARED_COST_FR],
        )
    assert "shared-cost" in str(extra.value.message_dict["extra_destinations"])


@pytest.mark.django_db
def test_a_supervisor_cannot_take_a_call_over_to_a_premium_rate_number():
    line = build_line()
    owner = line.agent.workspace.memberships.get(role=Role.OWNER).user
    environment = Environment.objects.get(workspace=line.agent.workspace, kind="development")
    call = playground_session_create(user=owner, agent=line.agent, environment=environment)
    with pytest.raises(ValidationError, match="premium-rate"):
        take_over_action(call=call, handover=None, destination=PREMIUM_US)
    assert take_over_action(call=call, handover=None, destination=CALLER) == (None, CALLER)
