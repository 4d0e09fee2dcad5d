"""Post-call data: extraction fields on the agent (Studio Data tab, API, versions), filled by
the LLM (validated, rules as the fallback) or by rules, shown on the call page and in the API;
an environment's webhook secret shown once and stored encrypted."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest

from agents.config.services import (
    encryption_keys_rotate,
    secret_create,
    secret_set_value,
    variable_create,
    variable_set_value,
    workspace_create,
)
from agents.config.webhooks import webhook_rotate_secret, webhook_secret, webhook_set
from agents.definitions.versions import agent_publish, agent_restore, agent_update_draft
from agents.models import Agent, AgentVersion, EnvironmentWebhook
from calls.models import Call, CallStatus, TranscriptSegment
from calls.postcall.services import call_extract
from tests.factories import agent_make, api_client, environment_of, user_make
from tests.peers.openai_server import OpenAIPeer, Rule

pytestmark = pytest.mark.django_db

FIELDS = [
    {"name": "reason", "type": "text", "description": "Why they called", "options": []},
    {"name": "party_size", "type": "number", "description": "How many people", "options": []},
    {"name": "booking_date", "type": "date", "description": "Day of the table", "options": []},
    {"name": "callback", "type": "phone", "description": "Number to call back", "options": []},
    {"name": "allergies", "type": "yes_no", "description": "Any food allergies", "options": []},
    {
        "name": "seating",
        "type": "choice",
        "description": "Where they sit",
        "options": ["Indoors", "Terrace"],
    },
]
LINES = [
    ("agent", "Trattoria Nonna, how can I help?"),
    ("caller", "Hi, I'd like to book a table for Saturday for five people."),
    ("agent", "Any food allergies in the party?"),
    ("caller", "No, none."),
    ("agent", "Indoors or on the terrace? And a number to reach you?"),
    ("caller", "The terrace. My number is 020 7946 0018."),
]


@pytest.fixture
def owner():
    return user_make("owner")


@pytest.fixture
def agent(owner) -> Agent:
    workspace = workspace_create(name="Trattoria", owner=owner)
    return agent_make(workspace=workspace, name="Bookings", extraction_fields=FIELDS)


def call_of(agent: Agent, *, snapshot: dict | None = None) -> Call:
    version = agent_publish(agent=agent)
    call = Call.objects.create(
        workspace=agent.workspace,
        agent=agent,
        agent_version=version,
        version_label=version.label,
        environment=environment_of(agent.workspace),
        agent_snapshot=snapshot or version.snapshot,
        call_sid=f"CA{agent.pk:032d}",
        from_number="+442079460000",
        status=CallStatus.COMPLETED,
        created_at=datetime(2026, 3, 11, 18, 0, tzinfo=UTC),
    )
    Call.objects.filter(pk=call.pk).update(created_at=datetime(2026, 3, 11, 18, 0, tzinfo=UTC))
    for i, (speaker, text) in enumerate(LINES):
        TranscriptSegment.objects.create(
            call=call, speaker=speaker, start_ms=i * 3000, end_ms=i * 3000 + 2000, text=text
        )
    return call


RULES_VALUES = {
    "reason": "Book a table for Saturday for five people",
    "party_size": 5,
    "booking_date": "2026-03-14",
    "callback": "+442079460018",
    "allergies": False,
    "seating": "Terrace",
}


def test_fields_are_part_of_the_versioned_definition(agent) -> None:
    version = agent_publish(agent=agent)
    assert version.snapshot["extraction_fields"] == FIELDS
    agent_update_draft(agent=agent, extraction_fields=FIELDS[:1])
    assert agent_publish(agent=agent).snapshot["extraction_fields"] == FIELDS[:1]
    version.refresh_from_db()
    assert len(version.snapshot["extraction_fields"]) == len(FIELDS)
    agent_restore(agent=agent, version=version)
    assert Agent.objects.get(pk=agent.pk).extraction_fields == FIELDS
    older = {k: v for k, v in version.snapshot.items() if k != "extraction_fields"}
    AgentVersion.objects.filter(pk=version.pk).update(snapshot=older)  # published before #19
    agent_restore(agent=agent, version=AgentVersion.objects.get(pk=version.pk))
    assert Agent.objects.get(pk=agent.pk).extraction_fields == []


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ([{"name": "Bad Name", "type": "text"}], "slug"),
        ([{"name": "size", "type": "integer"}], "the type is one of"),
        ([{"name": "seat", "type": "choice", "options": []}], "a choice needs"),
        ([{"name": "a", "type": "text"}, {"name": "a", "type": "date"}], "two fields"),
        ([{"name": "a", "type": "text", "options": ["x"]}], "only a choice"),
    ],
)
def test_invalid_fields_are_refused_with_a_clear_message(agent, fields, problem) -> None:
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as caught:
        agent_update_draft(agent=agent, extraction_fields=fields)
    assert problem in " ".join(caught.value.message_dict["extraction_fields"])


def test_rules_fill_the_fields_of_an_embedded_agent(agent) -> None:
    call = call_extract(call_id=call_of(agent).pk)
    assert call.extracted == RULES_VALUES
    assert call.extracted_by == "rules" and call.extracted_at is not None
    assert call.events.filter(kind="extracted", message="6 of 6 fields filled (rules).").exists()
    again = call_extract(call_id=call.pk)  # idempotent
    assert again.extracted_at == call.extracted_at
    assert call.events.filter(kind="extracted").count() == 1


def test_a_call_without_fields_is_not_written(agent) -> None:
    agent_update_draft(agent=agent, extraction_fields=[])
    call = call_extract(call_id=call_of(agent).pk)
    assert (call.extracted, call.extracted_at) == ({}, None)


def llm_agent(agent: Agent, base_url: str) -> Agent:
    environment = environment_of(agent.workspace)
    variable = variable_create(workspace=agent.workspace, name="LLM_BASE_URL")
    variable_set_value(variable=variable, environment=environment, value=base_url)
    secret = secret_create(workspace=agent.workspace, name="LLM_API_KEY")
    secret_set_value(secret=secret, environment=environment, value="sk-extract")
    return agent_update_draft(agent=agent, brain="llm", llm_model="gpt-4o-mini")


def test_the_llm_fills_the_fields_and_rules_replace_its_unusable_values(agent) -> None:
    reply = {
        "reason": "Table booking for Saturday",
        "party_size": "5",  # a number as text: accepted
        "booking_date": "14 March",  # not YYYY-MM-DD: the rules' value is used
        "callback": "020 7946 0018",  # no country code: normalized for the caller's country
        "allergies": "no",
        "seating": "terrace",
    }
    with OpenAIPeer(
        [Rule(when="transcript", text=json.dumps(reply))], api_key="sk-extract"
    ) as peer:
        call = call_extract(call_id=call_of(llm_agent(agent, peer.base_url)).pk)
        (request,) = peer.chat_requests()
    assert call.extracted_by == "llm"
    assert call.extracted == {
        "reason": "Table booking for Saturday",
        "party_size": 5,
        "booking_date": "2026-03-14",
        "callback": "+442079460018",
        "allergies": False,
        "seating": "Terrace",
    }
    system = request["messages"][0]["content"]
    assert "2026-03-11 (Wednesday)" in system and '"Indoors", "Terrace"' in system
    assert "CALLER: The terrace." in request["messages"][1]["content"]


@pytest.mark.parametrize("mode", ["garbage-json", "500"])
def test_when_the_llm_fails_the_rules_fill_the_fields(agent, mode) -> None:
    script = [Rule(when="transcript", text="Sure! The caller wants a table.")]
    with OpenAIPeer(script, api_key="sk-extract", mode="500" if mode == "500" else "ok") as peer:
        call = call_extract(call_id=call_of(llm_agent(agent, peer.base_url)).pk)
    assert (call.extracted, call.extracted_by) == (RULES_VALUES, "rules")
    assert call.events.filter(kind="extraction_fallback").exists()


def test_the_call_page_and_the_api_show_the_fields(agent, owner, client) -> None:
    call = call_extract(call_id=call_of(agent).pk)
    client.force_login(owner)
    page = client.get(f"/conversations/{call.pk}/").content.decode()
    assert '<dd data-field="booking_date">2026-03-14</dd>' in page
    assert '<dd data-field="allergies">No</dd>' in page
    assert "Filled" in page and "by rules" in page
    data = api_client(owner, workspace=agent.workspace).get(f"/api/v1/calls/{call.pk}/").json()
    assert data["extracted"] == RULES_VALUES and data["extracted_by"] == "rules"
    assert data["webhook_deliveries"] == []


def test_the_api_edits_the_fields_and_refuses_bad_ones(agent, owner) -> None:
    api = api_client(owner, workspace=agent.workspace)
    fields = [{"name": "topic", "type": "choice", "options": [" Billing ", "Sales"]}]
    response = api.patch(
        f"/api/v1/agents/{agent.pk}/", {"extraction_fields": fields}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["extraction_fields"] == [
        {"name": "topic", "type": "choice", "description": "", "options": ["Billing", "Sales"]}
    ]
    bad = api.patch(
        f"/api/v1/agents/{agent.pk}/",
        {"extraction_fields": [{"name": "topic", "type": "choice"}]},
        format="json",
    )
    assert bad.status_code == 400 and "a choice needs" in bad.content.decode()


def test_resending_without_a_webhook_is_a_clear_error(agent, owner) -> None:
    call = call_of(agent)
    response = api_client(owner, workspace=agent.workspace).post(
        f"/api/v1/calls/{call.pk}/resend-webhook/"
    )
    assert response.status_code == 400
    assert "no enabled webhook" in response.content.decode()


def test_the_data_tab_adds_changes_and_removes_fields(agent, owner, client) -> None:
    client.force_login(owner)
    url = f"/agents/{agent.pk}/data/"
    assert "<code>seating</code>" in client.get(url).content.decode()
    added = client.post(
        url,
        {
            "prefix": "new",
            "new-name": "topic",
            "new-type": "choice",
            "new-description": "What it is about",
            "new-options": "Billing, Sales",
        },
    )
    assert added.status_code == 302
    agent.refresh_from_db()
    assert agent.extraction_fields[-1] == {
        "name": "topic",
        "type": "choice",
        "description": "What it is about",
        "options": ["Billing", "Sales"],
    }
    refused = client.post(url, {"prefix": "new", "new-name": "x", "new-type": "choice"})
    assert refused.status_code == 400 and "a choice needs" in refused.content.decode()
    changed = client.post(
        url,
        {"prefix": "f-topic", "f-topic-original": "topic", "f-topic-name": "topic",
         "f-topic-type": "text", "f-topic-description": "", "f-topic-options": ""},
    )  # fmt: skip
    assert changed.status_code == 302
    agent.refresh_from_db()
    assert agent.extraction_fields[-1]["type"] == "text"
    client.post(f"/agents/{agent.pk}/data/topic/delete/")
    agent.refresh_from_db()
    assert [f["name"] for f in agent.extraction_fields] == [f["name"] for f in FIELDS]


def test_the_webhook_secret_is_shown_once_and_stored_encrypted(agent, owner, client) -> None:
    environment = environment_of(agent.workspace)
    client.force_login(owner)
    created = client.post(
        f"/environments/{environment.pk}/webhook/",
        {"url": "https://hooks.example.com/stellar", "enabled": "on"},
    ).content.decode()
    webhook = EnvironmentWebhook.objects.get(environment=environment)
    secret = webhook_secret(webhook)
    assert secret.startswith("whsec_") and secret in created
    assert secret not in webhook.secret_ciphertext
    listing = client.get("/environments/?tab=webhooks").content.decode()
    assert "https://hooks.example.com/stellar" in listing and secret not in listing
    rotated = client.post(f"/environments/{environment.pk}/webhook/rotate/").content.decode()
    new_secret = webhook_secret(EnvironmentWebhook.objects.get(pk=webhook.pk))
    assert new_secret != secret and new_secret in rotated
    assert encryption_keys_rotate() >= 1
    assert webhook_secret(EnvironmentWebhook.objects.get(pk=webhook.pk)) == new_secret
    refused = client.post(
        f"/environments/{environment.pk}/webhook/", {"url": "https://u:p@hooks.example.com/"}
    )
    assert refused.status_code == 302
    assert EnvironmentWebhook.objects.get(pk=webhook.pk).url == "https://hooks.example.com/stellar"


def test_another_workspace_cannot_touch_a_webhook(agent, client) -> None:
    _, secret = webhook_set(
        workspace=agent.workspace,
        environment=environment_of(agent.workspace),
        url="https://hooks.example.com/a",
    )
    outsider = user_make("outsider")
    workspace_create(name="Other", owner=outsider)
    client.force_login(outsider)
    environment = environment_of(agent.workspace)
    assert client.post(f"/environments/{environment.pk}/webhook/rotate/").status_code == 404
    assert client.get(f"/environments/{environment.pk}/deliveries/").status_code == 404
    webhook = EnvironmentWebhook.objects.get(environment=environment)
    assert webhook_secret(webhook) == secret
    webhook_rotate_secret(webhook=webhook)
    assert webhook_secret(webhook) != secret


def test_a_webhook_to_an_internal_address_is_refused_and_not_retried(agent, settings) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from calls.models import DeliveryStatus
    from calls.postcall.webhooks import RetryPolicy, attempt_delivery

    settings.STELLAR_EGRESS_ALLOW = []  # the default: no internal address
    webhook_set(
        workspace=agent.workspace,
        environment=environment_of(agent.workspace),
        url="http://127.0.0.1:9/hook",
    )
    call = call_of(agent)
    result = attempt_delivery(
        call=call,
        delivery_id=uuid.uuid4(),
        attempt=1,
        window_start=timezone.now(),
        policy=RetryPolicy(base_seconds=1, max_seconds=1, window_seconds=3600),
    )
    assert result.retry_at is None and result.delivery is not None
    delivery = result.delivery
    assert delivery.status == DeliveryStatus.FAILED and delivery.response_code is None
    assert "egress policy" in delivery.error
    again = attempt_delivery(
        call=call,
        delivery_id=delivery.delivery_id,
        attempt=1,
        window_start=timezone.now() - timedelta(seconds=1),
    )
    assert again.delivery is None  # the same attempt twice (a redelivered task) sends nothing
