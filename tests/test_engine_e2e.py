"""The conversation engine on real calls: LLM brain with tool calls, API-call actions with
per-environment credentials, and silence handling — all over real sockets."""

from __future__ import annotations

import pytest

from agents.config.services import (
    auth_connector_create,
    auth_credentials_set,
    secret_create,
    secret_set_value,
    variable_create,
    variable_set_value,
)
from agents.definitions.versions import agent_publish
from agents.models import AgentAction, Environment
from calls.models import Call, CallEvent
from calls.simulator import HangUp, Say, Wait, WaitForAgent
from tests.e2e import eventually, place_call, words
from tests.peers.http_api import HttpApiPeer
from tests.peers.openai_server import OpenAIPeer, Rule
from tests.twilio_call import build_line

pytestmark = pytest.mark.e2e


def environments(line):
    workspace = line.agent.workspace
    return {e.kind: e for e in Environment.objects.filter(workspace=workspace)}


def set_per_environment(line, *, variables=(), secrets=()):
    envs = environments(line)
    workspace = line.agent.workspace
    for name, values in variables:
        variable = variable_create(workspace=workspace, name=name)
        for kind, value in values.items():
            variable_set_value(variable=variable, environment=envs[kind], value=value)
    for name, values in secrets:
        secret = secret_create(workspace=workspace, name=name)
        for kind, value in values.items():
            secret_set_value(secret=secret, environment=envs[kind], value=value)


def test_llm_brain_answers_and_hands_over_with_tool_calls(live_daphne):
    script = [
        Rule(when="opening hours", text="We are open Monday to Friday. From nine to six."),
        Rule(when="sales", text="Sure.", tool="transfer_to_sales"),
    ]
    with OpenAIPeer(script, api_key="sk-prod-key", token_delay=0.01) as llm:
        line = build_line(publish=False, brain="llm", llm_model="gpt-4o-mini")
        set_per_environment(
            line,
            variables=[("LLM_BASE_URL", {"production": llm.base_url, "development": "http://x"})],
            secrets=[("LLM_API_KEY", {"production": "sk-prod-key", "development": "sk-dev"})],
        )
        agent_publish(agent=line.agent)  # an LLM agent publishes once an environment has it all
        result = place_call(
            live_daphne,
            line,
            [
                WaitForAgent(),
                Say("What are your opening hours?"),
                WaitForAgent(),
                Say("Please put me through to sales."),
                WaitForAgent(),
            ],
        )
        texts = [words(t) for t in result.transcribe_agent()]
        assert "monday" in texts[1] and "friday" in texts[1], texts
        assert [d.number for d in result.dials] == ["+31201234567"]
        assert all(r.headers.get("authorization") == "Bearer sk-prod-key" for r in llm.requests)
        first = llm.requests[0].json()
        assert first["stream"] is True
        assert {t["function"]["name"] for t in first["tools"]} >= {
            "transfer_to_sales",
            "transfer_to_support",
        }
    call = Call.objects.get(call_sid=result.call_sid)
    assert CallEvent.objects.filter(call=call, kind="agent_turn", data__brain="llm").exists()


def test_api_call_action_uses_the_connectors_environment(live_daphne):
    with HttpApiPeer({"/orders/42": lambda r: _order(r)}) as api:
        line = build_line(
            publish=False,
            intents=[
                {
                    "name": "order",
                    "examples": ["where is my order", "order status", "track my parcel"],
                    "action": "check_order",
                }
            ],
        )
        AgentAction.objects.create(
            agent=line.agent,
            name="check_order",
            description="Look up the caller's order.",
            kind="api_call",
            config={
                "method": "GET",
                "url": "{{ variables.ORDER_API }}/orders/42?caller={{ call.from }}",
                "auth_connector": "crm",
                "response_template": "Your order is {{ result.status }}.",
            },
        )
        agent_publish(agent=line.agent)
        envs = environments(line)
        crm = auth_connector_create(
            workspace=line.agent.workspace, name="crm", kind="bearer", allowed_hosts=["127.0.0.1"]
        )
        auth_credentials_set(
            auth_connector=crm, environment=envs["production"], credentials={"token": "prod-tok"}
        )
        auth_credentials_set(
            auth_connector=crm, environment=envs["development"], credentials={"token": "dev-tok"}
        )
        set_per_environment(
            line,
            variables=[("ORDER_API", {"production": api.base_url, "development": api.base_url})],
        )
        result = place_call(
            live_daphne,
            line,
            [WaitForAgent(), Say("Where is my order?"), WaitForAgent(), HangUp()],
        )
        requests = api.api_requests()
        assert len(requests) == 1
        assert requests[0].headers["authorization"] == "Bearer prod-tok"
        assert requests[0].query["caller"] == ["+15005550006"]
    assert "delivery" in words(result.transcribe_agent()[-1])
    call = Call.objects.get(call_sid=result.call_sid)
    event = eventually(lambda: CallEvent.objects.filter(call=call, kind="action").first())
    assert event.data["ok"] is True
    assert "prod-tok" not in str(event.data) and "prod-tok" not in event.message


def _order(request):
    from tests.peers import Reply

    return Reply(200, {"id": 42, "status": "out for delivery"})


def test_silence_reprompts_then_ends_the_call_politely(live_daphne):
    line = build_line(publish=False, silence_timeout_seconds=2, silence_reprompts=1)
    agent_publish(agent=line.agent)
    result = place_call(live_daphne, line, [WaitForAgent(), Wait(20)], realtime=1.0)
    texts = [words(t) for t in result.transcribe_agent()]
    assert any("still there" in t for t in texts), texts
    assert "goodbye" in texts[-1]
    assert result.streams[0].ended_by == "server"
