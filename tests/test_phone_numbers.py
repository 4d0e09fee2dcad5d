"""Handover destinations are E.164: normalised when valid, refused with a hint otherwise."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from handovers.models import HandoverAction
from tests.factories import api_client, world_make

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    return world_make()


def create(world, destination: str, **extra):
    return api_client(world.users["editor"]).post(
        f"/api/v1/agents/{world.a.agent.pk}/handover-actions/",
        {
            "name": "transfer_to_billing",
            "description": "Billing questions",
            "destination": destination,
            **extra,
        },
        format="json",
    )


@pytest.mark.parametrize(
    ("entered", "stored"),
    [
        ("+31 20 123 4567", "+31201234567"),
        ("+31201234567", "+31201234567"),
        ("0031 20 123 4567", "+31201234567"),
        ("+1 (415) 555-2671", "+14155552671"),
    ],
)
def test_api_accepts_and_normalises_e164(world, entered, stored):
    response = create(world, entered)

    assert response.status_code == 201, response.data
    assert response.data["destination"] == stored
    assert HandoverAction.objects.get(pk=response.data["id"]).destination == stored


def test_api_rejects_a_national_number_and_asks_for_the_country_code(world):
    response = create(world, "020 123 4567")

    assert response.status_code == 400
    message = " ".join(response.data["destination"])
    assert "country code" in message.lower()
    assert not HandoverAction.objects.filter(name="transfer_to_billing").exists()


@pytest.mark.parametrize("garbage", ["call me maybe", "+", "+999 123", "+31 20 12"])
def test_api_rejects_garbage(world, garbage):
    response = create(world, garbage)

    assert response.status_code == 400
    assert "destination" in response.data


def test_api_normalises_extra_destinations_and_caller_id(world):
    response = create(
        world,
        "+31 20 123 4567",
        extra_destinations=["+44 20 7946 0958"],
        caller_id="+31 20 765 4321",
    )
    bad = create(world, "+31201234567", extra_destinations=["020 7946 0958"])

    assert response.status_code == 201
    assert response.data["extra_destinations"] == ["+442079460958"]
    assert response.data["caller_id"] == "+31207654321"
    assert bad.status_code == 400 and "country code" in str(bad.data["extra_destinations"])


def test_update_validates_too(world):
    url = f"/api/v1/agents/{world.a.agent.pk}/handover-actions/{world.a.handover.pk}/"
    editor = api_client(world.users["editor"])

    bad = editor.patch(url, {"destination": "0612345678"}, format="json")
    good = editor.patch(url, {"destination": "+44 20 7946 0958"}, format="json")

    assert bad.status_code == 400 and "country code" in str(bad.data).lower()
    assert good.status_code == 200 and good.data["destination"] == "+442079460958"


def test_model_full_clean_normalises_and_rejects(world):
    action = HandoverAction(
        agent=world.a.agent, name="to_desk", description="Desk", destination="+31 20 123 4567"
    )
    action.full_clean()
    assert action.destination == "+31201234567"

    national = HandoverAction(
        agent=world.a.agent, name="to_desk", description="Desk", destination="020 123 4567"
    )
    with pytest.raises(ValidationError) as caught:
        national.full_clean()
    assert "country code" in " ".join(caught.value.message_dict["destination"]).lower()

    garbage = HandoverAction(
        agent=world.a.agent, name="to_desk", description="Desk", destination="not a number"
    )
    with pytest.raises(ValidationError):
        garbage.full_clean()


def test_handover_and_agent_action_cannot_share_a_name(world):
    response = api_client(world.users["editor"]).post(
        f"/api/v1/agents/{world.a.agent.pk}/handover-actions/",
        {"name": "opening_hours", "description": "Clash", "destination": "+31201234567"},
        format="json",
    )
    action = api_client(world.users["editor"]).post(
        f"/api/v1/agents/{world.a.agent.pk}/actions/",
        {"name": "transfer_to_sales", "description": "Clash", "kind": "end_call"},
        format="json",
    )

    assert response.status_code == 400 and "name" in response.data
    assert action.status_code == 400 and "name" in action.data


def test_admin_form_validates_e164(world):
    from handovers.admin import HandoverActionForm

    form = HandoverActionForm(
        data={
            "agent": world.a.agent.pk,
            "name": "to_desk",
            "description": "Desk",
            "kind": "phone",
            "destination": "020 123 4567",
            "extra_destinations": "[]",
            "ring_timeout": 20,
            "fallback": "hangup",
        }
    )
    good = HandoverActionForm(data={**form.data, "destination": "+31 20 123 4567"})

    assert not form.is_valid()
    assert "country code" in " ".join(form.errors["destination"]).lower()
    assert good.is_valid(), good.errors
    assert good.save().destination == "+31201234567"


def test_admin_form_refuses_a_name_used_by_an_agent_action(world):
    from handovers.admin import HandoverActionForm

    form = HandoverActionForm(
        data={
            "agent": world.a.agent.pk,
            "name": "opening_hours",
            "description": "Clash",
            "kind": "phone",
            "destination": "+31201234567",
            "extra_destinations": "[]",
            "ring_timeout": 20,
            "fallback": "hangup",
        }
    )

    assert not form.is_valid()
    assert "already has an action called opening_hours" in " ".join(form.errors["name"])
