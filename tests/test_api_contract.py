"""What the REST API answers where Schemathesis found 500s and undocumented answers (issue 21,
item 13): bounded pagination, OPTIONS on missing objects, JSON errors under /api/v1/, error
responses declared for every operation, error bodies in their declared shape."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tests.factories import api_client, world_make

pytestmark = pytest.mark.django_db

LIST_ENDPOINTS = (
    "/api/v1/agents/",
    "/api/v1/calls/",
    "/api/v1/members/",
    "/api/v1/secrets/",
    "/api/v1/phone-connectors/",
)
VERSION_ACTIONS = ("lock", "restore", "republish", "unpublish")


@pytest.fixture
def world():
    return world_make()


@pytest.fixture
def owner(world):
    return api_client(world.users["owner"])


def _schema() -> dict:
    response = APIClient().get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    return response.json()


@pytest.mark.parametrize("path", LIST_ENDPOINTS)
@pytest.mark.parametrize(
    "query", ["limit=9223372036854775808", "limit=0", "limit=abc", "offset=-1", "offset=1000001"]
)
def test_a_page_size_or_offset_out_of_range_is_a_400_naming_the_parameter(owner, path, query):
    response = owner.get(f"{path}?{query}")

    assert response.status_code == 400
    name = query.split("=")[0]
    assert list(response.json()) == [name]
    assert "whole number" in response.json()[name][0]


def test_a_page_within_the_bounds_is_served(owner, world):
    response = owner.get("/api/v1/agents/?limit=1&offset=1")

    assert response.status_code == 200
    assert response.json()["count"] == 2 and len(response.json()["results"]) == 1


def test_the_schema_declares_the_pagination_bounds():
    parameters = _schema()["paths"]["/api/v1/agents/"]["get"]["parameters"]
    by_name = {parameter["name"]: parameter["schema"] for parameter in parameters}

    assert (by_name["limit"]["minimum"], by_name["limit"]["maximum"]) == (1, 200)
    assert (by_name["offset"]["minimum"], by_name["offset"]["maximum"]) == (0, 1_000_000)


@pytest.mark.parametrize("action", VERSION_ACTIONS)
def test_options_on_a_version_action_of_a_missing_version_is_a_404(owner, world, action):
    missing = owner.options(f"/api/v1/agents/{world.a.agent.pk}/versions/99/{action}/")
    present = owner.options(f"/api/v1/agents/{world.a.agent.pk}/versions/1/{action}/")

    assert missing.status_code == 404 and missing.json() == {
        "detail": "No AgentVersion matches the given query."
    }
    assert present.status_code == 200 and "application/json" in present.json()["parses"]


def test_options_on_publish_of_another_workspaces_agent_is_a_404(owner, world):
    foreign = owner.options(f"/api/v1/agents/{world.b.agent.pk}/publish/")
    own = owner.options(f"/api/v1/agents/{world.a.agent.pk}/publish/")

    assert foreign.status_code == 404
    assert own.status_code == 200 and own.json()["name"] == "Publish"


def test_options_on_a_list_under_a_missing_agent_is_a_404(owner):
    assert owner.options("/api/v1/agents/987654/actions/").status_code == 404


@pytest.mark.parametrize("method", ["get", "post", "delete"])
def test_an_address_under_the_api_that_matches_no_route_is_a_json_404(owner, method):
    response = getattr(owner, method)("/api/v1/agents/not-a-number/")

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "There is no API endpoint at this address."}


def test_the_schema_and_its_docs_are_still_served_under_the_api_prefix():
    assert APIClient().get("/api/v1/schema/").status_code == 200
    assert APIClient().get("/api/v1/docs/").status_code == 200


def test_a_request_without_credentials_is_a_401_that_says_how_to_authenticate():
    response = APIClient().get("/api/v1/agents/")

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert set(response.json()) == {"detail"}


def test_every_operation_declares_the_error_responses_with_their_bodies():
    schema = _schema()
    operations = [
        (path, method, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if method in {"get", "put", "post", "patch", "delete"}
    ]

    assert len(operations) >= 60
    for path, method, operation in operations:
        codes = set(operation["responses"])
        assert {"400", "401", "403", "404"} <= codes, (method, path, codes)
    components = schema["components"]["schemas"]
    assert components["ErrorResponse"]["required"] == ["detail"]
    assert components["ValidationErrorResponse"]["type"] == "object"


def test_a_validation_error_from_a_service_is_an_object_with_detail(owner, world):
    own_membership = world.users["owner"].memberships.get(workspace=world.a.workspace)

    response = owner.delete(f"/api/v1/members/{own_membership.pk}/")

    assert response.status_code == 400
    assert response.json() == {"detail": ["A workspace needs at least one owner."]}


def test_a_malformed_json_body_is_a_400_object(owner, world):
    response = owner.generic(
        "PATCH", f"/api/v1/secrets/{world.a.secret.pk}/", "\x00", "application/json"
    )

    assert response.status_code == 400
    assert "JSON parse error" in response.json()["detail"]


@pytest.mark.parametrize("value", ["-27208975932074573824", "9223372036854775808", "0"])
def test_a_calls_filter_id_out_of_range_is_a_400_not_a_500(owner, value):
    response = owner.get(f"/api/v1/calls/?agent={value}")

    assert response.status_code == 400 and "agent" in response.json()


def test_asking_for_a_missing_recording_as_wav_still_gets_a_json_404(owner, world):
    response = owner.get(f"/api/v1/calls/{world.a.call.pk}/recording/?format=wav")

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "This call has no recording."}


def test_an_auth_connector_without_token_url_matches_its_declared_schema(owner, world):
    declared = _schema()["components"]["schemas"]["AuthConnectorOutput"]["properties"]
    response = owner.get(f"/api/v1/auth-connectors/{world.a.auth_connector.pk}/")

    assert response.json()["token_url"] == ""
    assert "format" not in declared["token_url"]
