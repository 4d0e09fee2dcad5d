"""The LLM brain against a local OpenAI-protocol server: streaming speech, tools, failures."""

from __future__ import annotations

import asyncio
import json
import logging
import time

import pytest

from agents.actions.context import CallContext
from agents.engine.events import ActionRan, Decision, EndCall, Handover, Problem, Speak
from agents.engine.llm import APOLOGY, LlmBrain
from tests.peers import Reply
from tests.peers.http_api import HttpApiPeer
from tests.peers.openai_server import OpenAIPeer, Rule

API_KEY = "sk-test-9a8b7c6d5e4f3a2b1c0d"
CRM_TOKEN = "crm-token-55aa66bb"

SNAPSHOT = {
    "system_prompt": "You are Nova, the friendly assistant of Stellar Shop.",
    "brain": "llm",
    "llm_model": "gpt-4o-mini",
    "knowledge": [{"question": "When are you open?", "answer": "Nine to five, Monday to Friday."}],
    "actions": [
        {
            "name": "lookup_order",
            "description": "Look up the status of an order by its number.",
            "kind": "api_call",
            "config": {
                "method": "GET",
                "url": "{{ variables.API_BASE }}/orders/{{ args.order_id }}",
                "headers": {"X-Caller": "{{ call.from }}"},
                "auth_connector": "crm",
                "response_template": "Your order is {{ result.status }}.",
            },
        },
        {
            "name": "hang_up",
            "description": "End the call when the caller is done.",
            "kind": "end_call",
            "config": {"goodbye": "Thanks for calling Stellar Shop. Goodbye!"},
        },
    ],
    "handover_actions": [
        {
            "name": "transfer_to_sales",
            "description": "Transfer to the sales team for new purchases.",
            "kind": "dial",
            "destination": "+31201111111",
            "handover_message": "Connecting you to sales.",
        },
        {
            "name": "transfer_to_support",
            "description": "Transfer to support for problems with an order.",
            "kind": "dial",
            "destination": "+31202222222",
            "handover_message": "Connecting you to support.",
        },
    ],
}

SCRIPT = [
    Rule(when="sales", tool="transfer_to_sales"),
    Rule(when="broken", text="I'm sorry to hear that.", tool="transfer_to_support"),
    Rule(
        when="order",
        text="Let me check that for you.",
        tool="lookup_order",
        arguments={"order_id": "42"},
    ),
    Rule(when="bye", tool="hang_up"),
    Rule(after_tool=True, text="The order status is {result[data][status]}. Anything else?"),
    Rule(
        when="hours",
        text="We are open from nine to five. On Saturdays, e.g. this week, we open at 10.30 a.m. "
        "Anything else I can do?",
    ),
]


def make_ctx(peer: OpenAIPeer, api: HttpApiPeer | None = None, **llm) -> CallContext:
    return CallContext(
        call={"from": "+31612345678", "to": "+31201234567", "sid": "CA1", "digits": "2"},
        variables={"API_BASE": api.root_url if api else ""},
        auth={
            "crm": {
                "kind": "bearer",
                "allowed_hosts": ["127.0.0.1"],  # the admin allowed the local API
                "credentials": {"token": CRM_TOKEN},
            }
        },
        llm={"base_url": peer.base_url, "model": "gpt-4o-mini", "api_key": API_KEY, **llm},
    )


def collect(brain: LlmBrain, text: str, history: list | None = None) -> list[tuple[float, object]]:
    async def go():
        return [(time.monotonic(), e) async for e in brain.turn(history or [], text)]

    return asyncio.run(go())


def events(timed):
    return [e for _, e in timed]


@pytest.fixture
def logs(caplog):
    caplog.set_level(logging.DEBUG)
    return caplog


def test_sentences_are_spoken_while_the_reply_still_streams(logs):
    with OpenAIPeer(SCRIPT, api_key=API_KEY, token_delay=0.04) as peer:
        timed = collect(LlmBrain(SNAPSHOT, make_ctx(peer)), "What are your hours?")
        (request,) = peer.requests
    assert events(timed) == [
        Speak("We are open from nine to five."),
        Speak("On Saturdays, e.g. this week, we open at 10.30 a.m. Anything else I can do?"),
    ]
    first_speak_at = timed[0][0]
    assert first_speak_at < request.finished_at - 0.2  # the server was still sending tokens

    # The model got the prompt, knowledge, call info and every action as a tool.
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    body = request.json()
    assert body["stream"] is True and body["model"] == "gpt-4o-mini"
    system = body["messages"][0]
    assert system["role"] == "system"
    assert "You are Nova" in system["content"]
    assert "Q: When are you open?\nA: Nine to five, Monday to Friday." in system["content"]
    assert "+31612345678" in system["content"] and "digits: 2" in system["content"]
    assert body["messages"][-1] == {"role": "user", "content": "What are your hours?"}
    tools = {t["function"]["name"]: t["function"] for t in body["tools"]}
    assert set(tools) == {"lookup_order", "hang_up", "transfer_to_sales", "transfer_to_support"}
    assert tools["lookup_order"]["parameters"]["properties"] == {"order_id": {"type": "string"}}
    assert tools["transfer_to_sales"]["parameters"]["properties"] == {}
    assert tools["transfer_to_sales"]["description"].startswith("Transfer to the sales team")
    assert API_KEY not in logs.text


def test_a_long_first_sentence_starts_speaking_at_its_first_comma():
    long = Rule(
        when="parcel",
        text="Thank you for waiting so patiently on the line today, I have found your parcel "
        "and it ships tomorrow morning, before noon. It arrives on Friday.",
    )
    with OpenAIPeer([long], api_key=API_KEY) as peer:
        timed = collect(LlmBrain(SNAPSHOT, make_ctx(peer)), "Where is my parcel?")
    assert events(timed) == [
        Speak("Thank you for waiting so patiently on the line today,"),  # the caller waits
        Speak("I have found your parcel and it ships tomorrow morning, before noon."),
        Speak("It arrives on Friday."),
    ]


def test_history_becomes_user_and_assistant_messages():
    history = [
        {"role": "caller", "text": "Hi there"},
        {"role": "agent", "text": "Hello! How can I help?", "interrupted": False},
    ]
    with OpenAIPeer(SCRIPT, api_key=API_KEY) as peer:
        collect(LlmBrain(SNAPSHOT, make_ctx(peer)), "What are your hours?", history)
        (body,) = peer.chat_requests()
    assert [(m["role"], m["content"]) for m in body["messages"][1:]] == [
        ("user", "Hi there"),
        ("assistant", "Hello! How can I help?"),
        ("user", "What are your hours?"),
    ]


def handover(name: str) -> dict:
    return next(h for h in SNAPSHOT["handover_actions"] if h["name"] == name)


def test_handover_tool_call_hands_over_to_that_action():
    with OpenAIPeer(SCRIPT, api_key=API_KEY) as peer:
        ctx = make_ctx(peer)
        sales = events(collect(LlmBrain(SNAPSHOT, ctx), "I'd like to talk to sales"))
        support = events(collect(LlmBrain(SNAPSHOT, ctx), "My blender arrived broken"))
        assert len(peer.requests) == 2  # a handover ends the turn: no second model call
    # The model said nothing itself: the handover's own line is spoken.
    assert sales == [
        Decision(
            label="handover:transfer_to_sales",
            brain="llm",
            summary="the handover transfer_to_sales",
        ),
        Speak("Connecting you to sales.", cacheable=True),
        Handover(
            action=handover("transfer_to_sales"),
            reason="LLM chose it; caller said: I'd like to talk to sales",
        ),
    ]
    assert support[0] == Speak("I'm sorry to hear that.")
    assert support[1] == Decision(
        label="handover:transfer_to_support",
        brain="llm",
        summary="the handover transfer_to_support",
    )
    assert isinstance(support[2], Handover)
    assert support[2].action == handover("transfer_to_support")
    assert len(support) == 3


def test_api_call_tool_round_trip_continues_the_answer(logs):
    routes = {"/orders/42": Reply(body={"status": "shipped", "carrier": "PostNL"})}
    with HttpApiPeer(routes) as api, OpenAIPeer(SCRIPT, api_key=API_KEY) as peer:
        got = events(collect(LlmBrain(SNAPSHOT, make_ctx(peer, api)), "Where is my order?"))
        first, second = peer.chat_requests()
        (api_request,) = api.requests

    # The action ran with the model's arguments, through the auth connector
    assert api_request.path == "/orders/42"
    assert api_request.headers["authorization"] == f"Bearer {CRM_TOKEN}"
    assert api_request.headers["x-caller"] == "+31612345678"
    # and the caller heard the lead-in, then the answer built from the tool result.
    assert got[0] == Speak("Let me check that for you.")
    assert got[1] == Decision(
        label="action:lookup_order", brain="llm", summary="the action lookup_order"
    )
    ran = got[2]
    assert isinstance(ran, ActionRan)
    assert (ran.name, ran.kind, ran.ok) == ("lookup_order", "api_call", True)
    assert ran.inputs["headers"]["Authorization"] == "••••••"
    assert got[3:] == [Speak("The order status is shipped."), Speak("Anything else?")]

    # The second request carries the assistant's tool call and the tool result.
    assistant, tool = second["messages"][-2:]
    assert assistant["role"] == "assistant"
    assert assistant["content"] == "Let me check that for you."
    (call,) = assistant["tool_calls"]
    assert call["function"] == {"name": "lookup_order", "arguments": '{"order_id": "42"}'}
    assert tool["role"] == "tool" and tool["tool_call_id"] == call["id"]
    content = json.loads(tool["content"])
    assert content["ok"] is True
    assert content["data"] == {"status": "shipped", "carrier": "PostNL"}
    assert content["say"] == "Your order is shipped."
    assert len(first["messages"]) + 2 == len(second["messages"])
    for secret in (CRM_TOKEN, API_KEY):
        assert secret not in logs.text
        assert secret not in json.dumps(second)


def test_end_call_tool_says_goodbye_and_ends():
    with OpenAIPeer(SCRIPT, api_key=API_KEY) as peer:
        got = events(collect(LlmBrain(SNAPSHOT, make_ctx(peer)), "That's all, bye"))
    assert got[0] == Decision(label="action:hang_up", brain="llm", summary="the action hang_up")
    assert isinstance(got[1], ActionRan) and got[1].ok
    assert got[2:] == [
        Speak("Thanks for calling Stellar Shop. Goodbye!", cacheable=True),
        EndCall(reason="llm:hang_up"),
    ]


def test_tool_rounds_are_limited():
    looping = [Rule(when="", text="Checking.", tool="lookup_order", arguments={"order_id": "1"})]
    looping.append(Rule(after_tool=True, text="", tool="lookup_order", arguments={"order_id": "1"}))
    with HttpApiPeer() as api, OpenAIPeer(looping, api_key=API_KEY) as peer:
        got = events(collect(LlmBrain(SNAPSHOT, make_ctx(peer, api)), "order please"))
        assert len(peer.requests) == 4  # the first answer and three tool rounds
    assert sum(isinstance(e, ActionRan) for e in got) == 3
    assert got[0] == Speak("Checking.")


@pytest.mark.parametrize("mode", ["500", "hang", "garbage", "stall"])
def test_model_failures_end_in_an_apology_within_the_timeout(mode, logs):
    with OpenAIPeer(SCRIPT, api_key=API_KEY, mode=mode, token_delay=0.01) as peer:
        started = time.monotonic()
        got = events(collect(LlmBrain(SNAPSHOT, make_ctx(peer, timeout_seconds=1)), "hours?"))
        elapsed = time.monotonic() - started
    assert got[-1] == Speak(APOLOGY)
    (problem,) = [e for e in got if isinstance(e, Problem)]  # for the call timeline
    assert problem.kind == "llm_error" and problem.error
    assert API_KEY not in problem.message
    assert all(isinstance(e, Speak | Problem) for e in got)
    assert elapsed < 2.5
    assert "LLM gpt-4o-mini" in logs.text  # the failure is logged
    assert API_KEY not in logs.text


def test_wrong_key_and_unreachable_server_end_in_an_apology(logs):
    with OpenAIPeer(SCRIPT, api_key="sk-some-other-key-000000") as peer:
        wrong_key = events(collect(LlmBrain(SNAPSHOT, make_ctx(peer)), "hours?"))
        base_url = peer.base_url
        assert peer.requests[0].headers["authorization"] == f"Bearer {API_KEY}"
    # The peer is stopped now: nothing listens on its port.
    ctx = CallContext(llm={"base_url": base_url, "api_key": API_KEY, "timeout_seconds": 1})
    started = time.monotonic()
    unreachable = events(collect(LlmBrain(SNAPSHOT, ctx), "hours?"))
    assert time.monotonic() - started < 2
    assert [type(e) for e in wrong_key] == [type(e) for e in unreachable] == [Problem, Speak]
    assert wrong_key[-1] == unreachable[-1] == Speak(APOLOGY)
    # The timeline tells the two apart by the failure's class, and carries no key.
    assert (wrong_key[0].error, unreachable[0].error) == ("HTTP 401", "ConnectError")
    assert API_KEY not in wrong_key[0].message + unreachable[0].message
    assert "HTTP 401" in logs.text
    assert API_KEY not in logs.text


def test_empty_answer_is_never_silence():
    with OpenAIPeer([Rule(when="", text="")], api_key=API_KEY) as peer:
        got = events(collect(LlmBrain(SNAPSHOT, make_ctx(peer)), "hello?"))
    assert got == [
        Problem("llm_error", "The language model gave an empty answer.", "EmptyAnswer"),
        Speak(APOLOGY),
    ]


@pytest.mark.parametrize(
    ("llm", "missing"),
    [
        ({"model": "m", "api_key": API_KEY}, "base URL"),
        ({"base_url": "http://127.0.0.1:9/v1", "api_key": API_KEY}, "model"),
        ({"base_url": "http://127.0.0.1:9/v1", "model": "m"}, "API key"),
    ],
)
def test_a_missing_setting_is_a_configuration_error_never_a_public_default(llm, missing, logs):
    snapshot = {**SNAPSHOT, "llm_model": ""}
    brain = LlmBrain(snapshot, CallContext(llm=llm))
    got = events(collect(brain, "hours?"))
    assert got == [
        Problem(
            "llm_error",
            f"The LLM brain is not configured: no {missing} in this environment.",
            error="LlmNotConfigured",
        ),
        Speak(APOLOGY),
    ]
    assert "api.openai.com" not in brain.base_url + logs.text  # nothing is contacted
    assert "HTTP Request" not in logs.text


def test_the_default_human_handover_is_named_in_the_system_prompt():
    snapshot = {**SNAPSHOT, "default_handover": "transfer_to_support"}
    prompt = LlmBrain(snapshot, CallContext()).system_prompt()
    assert "asks for a person without saying whom, use transfer_to_support" in prompt
    assert "without saying whom" not in LlmBrain(SNAPSHOT, CallContext()).system_prompt()
