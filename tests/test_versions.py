"""Agent versions: numbered per agent, immutable snapshots of the draft, restorable, lockable."""

from __future__ import annotations

import pytest
from django.contrib.admin.sites import site as admin_site
from django.core.exceptions import ValidationError
from django.test import RequestFactory

from agents.definitions.models import ImmutableVersionError
from agents.definitions.versions import (
    agent_action_update,
    agent_publish,
    agent_restore,
    version_lock,
    version_unpublish,
)
from agents.models import AgentVersion, VersionStatus
from handovers.services import handover_action_update
from tests.factories import (
    action_make,
    agent_make,
    api_client,
    handover_make,
    user_make,
    world_make,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    return world_make()


def versions_url(world, tail: str = "") -> str:
    return f"/api/v1/agents/{world.a.agent.pk}/versions/{tail}"


def test_versions_are_numbered_per_agent(world):
    other = agent_make(workspace=world.a.workspace, name="Billing")
    editor = api_client(world.users["editor"])

    second = editor.post(f"/api/v1/agents/{world.a.agent.pk}/publish/", {"note": "two"})
    first_of_other = editor.post(f"/api/v1/agents/{other.pk}/publish/", {})
    third = agent_publish(agent=world.a.agent)

    assert (second.status_code, second.data["label"], second.data["note"]) == (201, "v2", "two")
    assert first_of_other.status_code == 201 and first_of_other.data["number"] == 1
    assert third.number == 3
    listed = editor.get(versions_url(world)).data["results"]
    assert [v["label"] for v in listed] == ["v3", "v2", "v1"]


def test_changing_a_snapshot_through_the_orm_raises(world):
    version = AgentVersion.objects.get(pk=world.a.version.pk)
    version.snapshot = {**version.snapshot, "system_prompt": "Sneaky"}

    with pytest.raises(ImmutableVersionError):
        version.save()

    version.refresh_from_db()
    assert version.snapshot["system_prompt"] == "You answer questions about our shop."


def test_publish_snapshots_actions_and_handover_actions(world):
    agent = world.a.agent
    action_make(agent=agent, name="closing_time")
    handover_make(agent=agent, name="transfer_to_support", destination="+44 20 7946 0958")

    version = agent_publish(agent=agent, note="with support")
    agent_action_update(action=world.a.action, description="Changed after publishing")

    snapshot = version.snapshot
    assert [a["name"] for a in snapshot["actions"]] == ["closing_time", "opening_hours"]
    assert snapshot["actions"][1]["description"] == "When the caller asks when we are open."
    assert {h["name"]: h["destination"] for h in snapshot["handover_actions"]} == {
        "transfer_to_sales": "+31201234567",
        "transfer_to_support": "+442079460958",
    }
    assert snapshot["knowledge"] == agent.knowledge
    detail = api_client(world.users["viewer"]).get(versions_url(world, f"{version.number}/"))
    assert detail.data["snapshot"]["handover_actions"] == snapshot["handover_actions"]


def test_restore_copies_a_version_back_into_the_draft(world):
    agent = world.a.agent
    agent.system_prompt = "A new prompt"
    agent.save()
    world.a.action.delete()
    handover_action_update(action=world.a.handover, destination="+442079460958")
    action_make(agent=agent, name="added_later")

    response = api_client(world.users["editor"]).post(versions_url(world, "1/restore/"))

    assert response.status_code == 200
    assert response.data["system_prompt"] == "You answer questions about our shop."
    agent.refresh_from_db()
    assert agent.system_prompt == "You answer questions about our shop."
    assert [a.name for a in agent.actions.all()] == ["opening_hours"]
    assert [(h.name, h.destination) for h in agent.handover_actions.all()] == [
        ("transfer_to_sales", "+31201234567")
    ]
    assert agent.versions.count() == 1  # restoring edits the draft, it does not publish


def test_restore_refuses_a_version_of_another_agent(world):
    other = agent_make(workspace=world.a.workspace, name="Billing")

    with pytest.raises(ValidationError):
        agent_restore(agent=other, version=world.a.version)


def test_lock_prevents_unpublish(world):
    editor = api_client(world.users["editor"])

    locked = editor.post(versions_url(world, "1/lock/"))
    unpublish = editor.post(versions_url(world, "1/unpublish/"))

    assert locked.status_code == 200 and locked.data["locked"] is True
    assert unpublish.status_code == 400
    assert "locked" in str(unpublish.data)
    world.a.version.refresh_from_db()
    assert world.a.version.status == VersionStatus.PUBLISHED
    with pytest.raises(ImmutableVersionError):
        version_unpublish(version=world.a.version)


def test_unpublish_and_republish(world):
    editor = api_client(world.users["editor"])

    down = editor.post(versions_url(world, "1/unpublish/"))
    listed = editor.get("/api/v1/agents/").data["results"]
    up = editor.post(versions_url(world, "1/republish/"))

    assert down.data["status"] == "unpublished"
    support = next(a for a in listed if a["id"] == world.a.agent.pk)
    assert support["latest_version"]["status"] == "unpublished"
    assert support["latest_published_label"] is None
    assert up.data["status"] == "published"


def test_versions_cannot_be_edited_or_deleted_through_the_api(world):
    editor = api_client(world.users["editor"])
    url = versions_url(world, "1/")

    put = editor.put(url, {"note": "rewritten"}, format="json")
    patch = editor.patch(url, {"snapshot": {}}, format="json")
    delete = editor.delete(url)

    assert (put.status_code, patch.status_code, delete.status_code) == (405, 405, 405)
    version = AgentVersion.objects.get(pk=world.a.version.pk)
    assert version.note == "first" and version.snapshot["name"] == "Support"


def test_deleting_a_published_version_is_refused(world):
    with pytest.raises(ImmutableVersionError):
        world.a.version.delete()
    assert AgentVersion.objects.filter(pk=world.a.version.pk).exists()

    version_unpublish(version=world.a.version)
    version_lock(version=world.a.version)
    with pytest.raises(ImmutableVersionError):
        world.a.version.delete()


def test_admin_cannot_change_or_delete_published_or_locked_versions(world):
    superuser = user_make("root")
    superuser.is_superuser = superuser.is_staff = True
    superuser.save()
    request = RequestFactory().get("/admin/")
    request.user = superuser
    version_admin = admin_site._registry[AgentVersion]
    published = world.a.version
    unpublished = agent_publish(agent=world.a.agent)
    version_unpublish(version=unpublished)

    assert version_admin.has_change_permission(request, published) is False
    assert version_admin.has_add_permission(request) is False
    assert version_admin.has_delete_permission(request, published) is False
    assert version_admin.has_delete_permission(request, unpublished) is True
    version_lock(version=unpublished)
    assert version_admin.has_delete_permission(request, unpublished) is False
    assert "delete_selected" not in version_admin.get_actions(request)
