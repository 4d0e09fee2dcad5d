"""Which version answers a phone connector's calls: Published, Draft or Pinned mode."""

from __future__ import annotations

import re

import pytest
from django.core.exceptions import ValidationError

from agents.definitions.versions import agent_publish, agent_update_draft, version_unpublish
from connectors.selectors import connector_resolve_version
from connectors.services import connector_update
from tests.factories import agent_make, api_client, connector_make, world_make

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    return world_make()


def answering(world, connector) -> dict:
    response = api_client(world.users["viewer"]).get(f"/api/v1/phone-connectors/{connector.pk}/")
    assert response.status_code == 200
    return response.data["answering"]


def test_published_mode_with_nothing_published_gives_a_reason(world):
    fresh = agent_make(workspace=world.a.workspace, name="Fresh")
    connector = connector_make(agent=fresh, name="Fresh line")

    resolution = connector_resolve_version(connector=connector)

    assert resolution.ok is False and resolution.snapshot is None
    assert "no published version" in resolution.reason
    assert answering(world, connector) == {
        "ok": False,
        "label": "",
        "reason": "Published mode, but Fresh has no published version.",
    }


def test_published_mode_follows_the_latest_published_version(world):
    agent, connector = world.a.agent, world.a.connector
    agent_update_draft(agent=agent, greeting="Second greeting")
    v2 = agent_publish(agent=agent)
    agent_update_draft(agent=agent, greeting="Third greeting")
    v3 = agent_publish(agent=agent)

    assert connector_resolve_version(connector=connector).version == v3
    version_unpublish(version=v3)
    resolution = connector_resolve_version(connector=connector)

    assert resolution.version == v2
    assert resolution.snapshot["greeting"] == "Second greeting"
    assert answering(world, connector)["label"] == "v2"


def test_draft_mode_answers_with_the_draft(world):
    agent, connector = world.a.agent, world.a.connector
    connector_update(connector=connector, version_mode="draft")
    agent_update_draft(agent=agent, greeting="Testing the draft")

    resolution = connector_resolve_version(connector=connector)

    assert resolution.ok and resolution.version is None and resolution.label == "draft"
    assert resolution.snapshot["greeting"] == "Testing the draft"
    assert answering(world, connector) == {"ok": True, "label": "draft", "reason": "Draft mode"}


def test_pinned_mode_answers_with_the_pinned_version(world):
    agent = world.a.agent
    agent_update_draft(agent=agent, greeting="Newer")
    agent_publish(agent=agent)

    response = api_client(world.users["editor"]).patch(
        f"/api/v1/phone-connectors/{world.a.connector.pk}/",
        {"version_mode": "pinned", "pinned_version": world.a.version.pk},
        format="json",
    )

    assert response.status_code == 200
    assert response.data["answering"] == {"ok": True, "label": "v1", "reason": "Pinned to v1"}
    world.a.connector.refresh_from_db()
    assert connector_resolve_version(connector=world.a.connector).version == world.a.version


def test_pinned_version_of_another_agent_is_refused(world):
    other = agent_make(workspace=world.a.workspace, name="Billing")
    foreign = agent_publish(agent=other)

    with pytest.raises(ValidationError) as caught:
        connector_update(connector=world.a.connector, version_mode="pinned", pinned_version=foreign)
    response = api_client(world.users["editor"]).patch(
        f"/api/v1/phone-connectors/{world.a.connector.pk}/",
        {"version_mode": "pinned", "pinned_version": foreign.pk},
        format="json",
    )

    assert "pinned_version" in caught.value.message_dict
    assert response.status_code == 400
    assert response.data["pinned_version"] == ["That version belongs to another agent."]


def test_pinned_version_of_another_workspace_is_refused(world):
    response = api_client(world.users["editor"]).patch(
        f"/api/v1/phone-connectors/{world.a.connector.pk}/",
        {"version_mode": "pinned", "pinned_version": world.b.version.pk},
        format="json",
    )

    assert response.status_code == 400 and "pinned_version" in response.data


def test_disabled_connector_gives_a_reason(world):
    response = api_client(world.users["editor"]).patch(
        f"/api/v1/phone-connectors/{world.a.connector.pk}/", {"enabled": False}, format="json"
    )

    world.a.connector.refresh_from_db()
    resolution = connector_resolve_version(connector=world.a.connector)
    assert resolution.ok is False and resolution.reason == "The connector is disabled."
    assert response.data["answering"]["reason"] == "The connector is disabled."


def test_connector_response_has_webhook_url_and_identifier(world):
    connector = world.a.connector

    data = api_client(world.users["viewer"]).get(f"/api/v1/phone-connectors/{connector.pk}/").data

    assert data["identifier"] == connector.identifier
    assert data["webhook_url"].endswith(f"/v1/agents/{connector.identifier}/twilio-config")
    assert "twilio_auth_token" not in data


def test_new_connector_identifiers_are_url_and_shell_safe():
    from connectors.models import new_identifier

    identifiers = {new_identifier() for _ in range(2000)}
    assert len(identifiers) == 2000
    for identifier in identifiers:
        assert re.fullmatch(r"[a-z0-9]{24}", identifier), identifier
