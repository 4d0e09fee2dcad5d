"""Issue 21 (items 2 and 4) on the database: the default human handover of an agent (API,
Studio, versions) and the LLM brain that cannot be published, or passes diagnostics, without
a base URL, a model and an API key."""

from __future__ import annotations

import socket

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from agents.config.services import (
    secret_create,
    secret_set_value,
    variable_create,
    variable_set_value,
)
from agents.definitions.versions import agent_publish, agent_restore, agent_update_draft
from agents.models import AgentVersion
from connectors.numbers import connector_diagnostics
from tests.factories import api_client, environment_of, handover_make, world_make

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    return world_make()


@pytest.fixture(autouse=True)
def _no_process_wide_llm_settings(monkeypatch):
    monkeypatch.delenv("STELLAR_LLM_BASE_URL", raising=False)
    monkeypatch.delenv("STELLAR_LLM_API_KEY", raising=False)


def draft_url(world) -> str:
    return f"/api/v1/agents/{world.a.agent.pk}/draft/"


# --- Item 2: the default human handover ---------------------------------------------------


def test_the_api_sets_shows_and_snapshots_the_default_human_handover(world):
    handover_make(agent=world.a.agent, name="emergency", destination="+31207654321")
    editor = api_client(world.users["editor"])

    changed = editor.patch(draft_url(world), {"default_handover": "emergency"}, format="json")
    published = editor.post(f"/api/v1/agents/{world.a.agent.pk}/publish/", {})

    assert changed.status_code == 200, changed.data
    assert changed.data["default_handover"] == "emergency"
    assert editor.get(draft_url(world)).data["default_handover"] == "emergency"
    assert published.status_code == 201
    version = AgentVersion.objects.get(agent=world.a.agent, number=published.data["number"])
    assert version.snapshot["default_handover"] == "emergency"


def test_the_default_human_handover_must_be_a_handover_of_that_agent(world):
    editor = api_client(world.users["editor"])
    other_agents = world.b.handover.name  # workspace B has a handover too: not this agent's
    handover_make(agent=world.a.spare_agent, name="spare_desk")

    unknown = editor.patch(draft_url(world), {"default_handover": "nobody"}, format="json")
    another_agents = editor.patch(draft_url(world), {"default_handover": "spare_desk"})
    an_action = editor.patch(draft_url(world), {"default_handover": world.a.action.name})

    for response in (unknown, another_agents, an_action):
        assert response.status_code == 400
        assert "is not a handover action of this agent" in str(response.data["default_handover"])
        assert "choose one of transfer_to_sales" in str(response.data["default_handover"])
    world.a.agent.refresh_from_db()
    assert world.a.agent.default_handover == ""
    assert other_agents == "transfer_to_sales"  # same name elsewhere is not enough


def test_the_studio_draft_editor_offers_the_agents_handovers_and_saves_the_choice(world):
    handover_make(agent=world.a.agent, name="emergency", destination="+31207654321")
    client = Client()
    client.force_login(world.users["editor"])
    url = f"/agents/{world.a.agent.pk}/"
    page = client.get(url).content.decode()
    assert 'name="default_handover"' in page
    assert '<option value="emergency">emergency</option>' in page
    assert '<option value="transfer_to_sales">transfer_to_sales</option>' in page

    agent_update_draft(agent=world.a.agent, default_handover="emergency")
    chosen = client.get(url).content.decode()
    assert '<option value="emergency" selected>emergency</option>' in chosen


def test_restoring_a_version_brings_its_default_human_handover_back(world):
    agent = world.a.agent
    agent_update_draft(agent=agent, default_handover="transfer_to_sales")
    version = agent_publish(agent=agent)
    agent_update_draft(agent=agent, default_handover="")

    agent_restore(agent=agent, version=version)

    agent.refresh_from_db()
    assert agent.default_handover == "transfer_to_sales"


# --- Item 4: the LLM brain needs its settings ----------------------------------------------


def make_llm(world) -> None:
    agent_update_draft(agent=world.a.agent, brain="llm", llm_model="")


def give_llm_settings(world, *, model: bool = True) -> None:
    environment = environment_of(world.a.workspace)
    base_url = variable_create(workspace=world.a.workspace, name="LLM_BASE_URL")
    variable_set_value(variable=base_url, environment=environment, value="http://127.0.0.1:9/v1")
    if model:
        llm_model = variable_create(workspace=world.a.workspace, name="LLM_MODEL")
        variable_set_value(variable=llm_model, environment=environment, value="local-model")
    key = secret_create(workspace=world.a.workspace, name="LLM_API_KEY")
    secret_set_value(secret=key, environment=environment, value="sk-test-123")


def test_an_llm_agent_without_settings_cannot_be_published_through_the_api(world):
    make_llm(world)
    editor = api_client(world.users["editor"])

    refused = editor.post(f"/api/v1/agents/{world.a.agent.pk}/publish/", {})

    assert refused.status_code == 400
    text = str(refused.data)
    assert "uses the LLM brain, but no environment has its settings" in text
    assert "Development lacks a base URL (the variable LLM_BASE_URL)" in text
    assert "an API key (the secret LLM_API_KEY)" in text
    assert world.a.agent.versions.count() == 1  # only the one published before


def test_an_llm_agent_is_published_once_one_environment_has_all_three(world):
    make_llm(world)
    give_llm_settings(world, model=False)
    with pytest.raises(ValidationError, match=r"a model \(the agent's LLM model"):
        agent_publish(agent=world.a.agent)

    agent_update_draft(agent=world.a.agent, llm_model="local-model")
    assert agent_publish(agent=world.a.agent).snapshot["brain"] == "llm"


def test_process_wide_llm_settings_count_for_every_environment(world, monkeypatch):
    make_llm(world)
    agent_update_draft(agent=world.a.agent, llm_model="local-model")
    monkeypatch.setenv("STELLAR_LLM_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("STELLAR_LLM_API_KEY", "sk-operator")

    assert agent_publish(agent=world.a.agent).number == 2


def test_studio_refuses_to_publish_an_unconfigured_llm_agent_and_says_why(world):
    make_llm(world)
    client = Client()
    client.force_login(world.users["editor"])

    response = client.post(f"/agents/{world.a.agent.pk}/versions/publish/", follow=True)

    html = response.content.decode()
    assert "uses the LLM brain, but no environment has its settings" in html
    assert "Published v2" not in html
    assert world.a.agent.versions.count() == 1


def _unreachable_twilio(settings) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        settings.STELLAR_TWILIO_API_BASE_URL = f"http://127.0.0.1:{sock.getsockname()[1]}"


def test_diagnostics_fail_the_answering_check_when_the_llm_version_lacks_settings(world, settings):
    _unreachable_twilio(settings)
    make_llm(world)
    agent_update_draft(agent=world.a.agent, llm_model="local-model")
    give_llm_settings(world)
    agent_publish(agent=world.a.agent)  # v2, LLM: Development has everything
    # Now the connector's environment loses its key (e.g. deleted after publishing).
    world.a.workspace.secrets.get(name="LLM_API_KEY").delete()

    (answering,) = [
        c
        for c in connector_diagnostics(connector=world.a.connector).checks
        if c.title == "A version can answer"
    ]

    assert answering.status == "fail"
    assert "v2 (latest published) uses the LLM brain" in answering.detail
    assert "Development environment lacks an API key (the secret LLM_API_KEY)" in answering.detail
    assert "LLM_BASE_URL" in answering.fix and "Embedded brain" in answering.fix


def test_diagnostics_pass_the_answering_check_when_the_llm_settings_are_there(world, settings):
    _unreachable_twilio(settings)
    make_llm(world)
    give_llm_settings(world)
    agent_publish(agent=world.a.agent)

    checks = connector_diagnostics(connector=world.a.connector).checks
    (answering,) = [c for c in checks if c.title == "A version can answer"]
    assert answering.status == "pass"
