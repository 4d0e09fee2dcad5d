"""Secrets at rest: only ciphertext in the database, never a value in an API response or an
admin page, and key rotation without losing anything."""

from __future__ import annotations

import io

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection
from django.test import Client, override_settings

from agents.config.services import auth_credentials_get, secret_set_value
from agents.models import AuthConnectorCredential, SecretValue
from connectors.models import PhoneConnector
from stellar.kernel import crypto
from tests.factories import AUTH_TOKEN, SECRET_PLAINTEXT, api_client, user_make, world_make

pytestmark = pytest.mark.django_db

KEY_1 = Fernet.generate_key().decode()
KEY_2 = Fernet.generate_key().decode()


@pytest.fixture
def world():
    return world_make()


def raw_column(model, column: str, pk: int) -> str:
    """The stored bytes, read with SQL so no model code can decrypt or mask anything."""
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {connection.ops.quote_name(column)} FROM {table} WHERE id = %s", [pk]
        )
        return cursor.fetchone()[0]


def test_database_holds_only_ciphertext_that_decrypts(world):
    value = SecretValue.objects.get(secret=world.a.secret, environment=world.a.environment)

    stored = raw_column(SecretValue, "ciphertext", value.pk)

    assert SECRET_PLAINTEXT not in stored
    assert crypto.decrypt(stored) == SECRET_PLAINTEXT
    credential = AuthConnectorCredential.objects.get(auth_connector=world.a.auth_connector)
    assert "crm-t0k-plaintext-42" not in raw_column(
        AuthConnectorCredential, "ciphertext", credential.pk
    )
    assert auth_credentials_get(credential=credential) == {"token": "crm-t0k-plaintext-42"}


def test_api_never_returns_the_value(world):
    admin = api_client(world.users["admin"])
    url = f"/api/v1/secrets/{world.a.secret.pk}/"

    set_response = admin.post(
        url + "values/", {"environment": world.a.environment.pk, "value": "brand-new-secret"}
    )
    responses = [set_response, admin.get(url), admin.get("/api/v1/secrets/")]

    assert set_response.status_code == 200
    for response in responses:
        body = response.content.decode()
        assert "brand-new-secret" not in body and SECRET_PLAINTEXT not in body
        assert "ciphertext" not in body and "gAAAAA" not in body  # Fernet tokens start so
    assert set_response.data["environments_with_value"] == [
        {
            "environment": world.a.environment.pk,
            "environment_kind": "development",
            "updated_at": set_response.data["environments_with_value"][0]["updated_at"],
        }
    ]
    value = SecretValue.objects.get(secret=world.a.secret, environment=world.a.environment)
    assert crypto.decrypt(value.ciphertext) == "brand-new-secret"


def test_auth_credentials_and_connector_token_are_never_returned(world):
    admin = api_client(world.users["admin"])

    credentials = admin.post(
        f"/api/v1/auth-connectors/{world.a.auth_connector.pk}/credentials/",
        {"environment": world.a.environment.pk, "credentials": {"token": "bearer-xyz-123"}},
        format="json",
    )
    connector = admin.patch(
        f"/api/v1/phone-connectors/{world.a.connector.pk}/",
        {"twilio_auth_token": "rotated-twilio-token"},
        format="json",
    )
    listed = admin.get("/api/v1/phone-connectors/")

    assert credentials.status_code == 200 and connector.status_code == 200
    for response in (credentials, connector, listed):
        body = response.content.decode()
        for secret in ("bearer-xyz-123", "rotated-twilio-token", AUTH_TOKEN, "gAAAAA"):
            assert secret not in body
    assert connector.data["auth_token_set"] is True
    world.a.connector.refresh_from_db()
    assert world.a.connector.get_auth_token() == "rotated-twilio-token"


def test_secret_name_is_read_only_after_creation(world):
    admin = api_client(world.users["admin"])
    url = f"/api/v1/secrets/{world.a.secret.pk}/"

    renamed = admin.patch(url, {"name": "OTHER"}, format="json")
    same_name = admin.put(url, {"name": "CRM_API_KEY", "description": "d"}, format="json")

    assert renamed.status_code == 400 and "name" in renamed.data
    assert same_name.status_code == 200
    world.a.secret.refresh_from_db()
    assert world.a.secret.name == "CRM_API_KEY"


def test_key_rotation(world):
    with override_settings(STELLAR_ENCRYPTION_KEYS=[KEY_1]):
        secret_set_value(secret=world.a.secret, environment=world.a.environment, value="rotate-me")
        connector = PhoneConnector.objects.get(pk=world.a.connector.pk)
        connector.set_auth_token("token-to-rotate")
        connector.save()
        value = SecretValue.objects.get(secret=world.a.secret, environment=world.a.environment)
        before = raw_column(SecretValue, "ciphertext", value.pk)

    with override_settings(STELLAR_ENCRYPTION_KEYS=[KEY_2, KEY_1]):
        assert crypto.decrypt(raw_column(SecretValue, "ciphertext", value.pk)) == "rotate-me"
        # the factories' rows were encrypted with the default key: add it so all rows rotate
    with override_settings(STELLAR_ENCRYPTION_KEYS=[KEY_2, KEY_1, *_default_keys()]):
        out = io.StringIO()
        call_command("rotate_encryption_keys", stdout=out)
        assert "Re-encrypted" in out.getvalue()

    with override_settings(STELLAR_ENCRYPTION_KEYS=[KEY_2]):
        after = raw_column(SecretValue, "ciphertext", value.pk)
        assert after != before
        assert crypto.decrypt(after) == "rotate-me"
        connector.refresh_from_db()
        assert connector.get_auth_token() == "token-to-rotate"
        assert (
            raw_column(PhoneConnector, "twilio_auth_token_ciphertext", connector.pk).find(
                "token-to-rotate"
            )
            == -1
        )
        for credential in AuthConnectorCredential.objects.all():
            assert "token" in auth_credentials_get(credential=credential)
    with override_settings(STELLAR_ENCRYPTION_KEYS=[KEY_1]), pytest.raises(crypto.DecryptionError):
        crypto.decrypt(after)


def _default_keys() -> list[str]:
    from django.conf import settings

    return list(settings.STELLAR_ENCRYPTION_KEYS)


def test_generate_encryption_key_prints_a_fernet_key(capsys):
    call_command("generate_encryption_key")

    key = capsys.readouterr().out.strip()
    assert Fernet(key.encode()).decrypt(Fernet(key.encode()).encrypt(b"x")) == b"x"


def test_admin_never_shows_values_and_sets_them_encrypted(world):
    root = user_make("root")
    root.is_staff = root.is_superuser = True
    root.save()
    browser = Client()
    browser.force_login(root)
    secret = world.a.secret
    existing = SecretValue.objects.get(secret=secret)
    production = world.a.workspace.environments.get(kind="production")

    page = browser.get(f"/admin/agents/secret/{secret.pk}/change/")
    saved = browser.post(
        f"/admin/agents/secret/{secret.pk}/change/",
        {
            "description": "CRM",
            "values-TOTAL_FORMS": "2",
            "values-INITIAL_FORMS": "1",
            "values-MIN_NUM_FORMS": "0",
            "values-MAX_NUM_FORMS": "1000",
            "values-0-id": str(existing.pk),
            "values-0-secret": str(secret.pk),
            "values-0-new_value": "",
            "values-1-secret": str(secret.pk),
            "values-1-environment": str(production.pk),
            "values-1-new_value": "prod-only-value",
        },
    )
    connector_page = browser.get(f"/admin/connectors/phoneconnector/{world.a.connector.pk}/change/")
    listing = browser.get("/admin/agents/secretvalue/")

    assert page.status_code == 200
    assert "<p>set</p>" in page.content.decode()
    assert saved.status_code == 302, saved.content.decode()[:3000]
    for response in (page, connector_page, listing):
        body = response.content.decode()
        assert SECRET_PLAINTEXT not in body and AUTH_TOKEN not in body
        assert existing.ciphertext not in body
    stored = SecretValue.objects.get(secret=secret, environment=production)
    assert "prod-only-value" not in raw_column(SecretValue, "ciphertext", stored.pk)
    assert crypto.decrypt(stored.ciphertext) == "prod-only-value"
    existing.refresh_from_db()
    assert crypto.decrypt(existing.ciphertext) == SECRET_PLAINTEXT  # empty field kept it
    assert (
        "prod-only-value"
        not in browser.get(f"/admin/agents/secret/{secret.pk}/change/").content.decode()
    )


def test_admin_connector_token_is_write_only(world):
    root = user_make("root")
    root.is_staff = root.is_superuser = True
    root.save()
    browser = Client()
    browser.force_login(root)
    connector = world.a.connector
    url = f"/admin/connectors/phoneconnector/{connector.pk}/change/"
    form = {
        "name": connector.name,
        "agent": str(connector.agent_id),
        "environment": str(connector.environment_id),
        "version_mode": "published",
        "pinned_version": "",
        "twilio_account_sid": connector.twilio_account_sid,
        "enabled": "on",
    }

    kept = browser.post(url, {**form, "new_auth_token": ""})
    connector.refresh_from_db()
    token_after_keep = connector.get_auth_token()
    changed = browser.post(url, {**form, "new_auth_token": "admin-set-token"})
    connector.refresh_from_db()

    assert kept.status_code == 302 and changed.status_code == 302
    assert token_after_keep == AUTH_TOKEN
    assert connector.get_auth_token() == "admin-set-token"
    body = browser.get(url).content.decode()
    assert "admin-set-token" not in body and connector.twilio_auth_token_ciphertext not in body
    assert '<div class="readonly">set</div>' in body


def test_every_model_is_in_the_admin_and_no_page_shows_a_secret(world):
    from django.apps import apps
    from django.contrib.admin.sites import site

    root = user_make("root")
    root.is_staff = root.is_superuser = True
    root.save()
    browser = Client()
    browser.force_login(root)
    secrets = [SECRET_PLAINTEXT, AUTH_TOKEN, "crm-t0k-plaintext-42"]
    secrets += list(SecretValue.objects.values_list("ciphertext", flat=True))
    secrets += list(PhoneConnector.objects.values_list("twilio_auth_token_ciphertext", flat=True))

    for label in ("agents", "connectors", "handovers", "calls"):
        for model in apps.get_app_config(label).get_models():
            assert model in site._registry, f"{model.__name__} is not in the admin"
            base = f"/admin/{label}/{model._meta.model_name}/"
            pages = [base, base + "add/"]
            first = model.objects.order_by("pk").first()
            if first is not None:
                pages.append(f"{base}{first.pk}/change/")
            for url in pages:
                response = browser.get(url)
                assert response.status_code in (200, 403), url
                body = response.content.decode()
                for secret in secrets:
                    assert secret not in body, (url, secret[:12])


def test_admin_sets_auth_credentials_write_only(world):
    root = user_make("root")
    root.is_staff = root.is_superuser = True
    root.save()
    browser = Client()
    browser.force_login(root)
    connector = world.a.auth_connector
    existing = AuthConnectorCredential.objects.get(auth_connector=connector)
    staging = world.a.workspace.environments.get(kind="staging")
    url = f"/admin/agents/authconnector/{connector.pk}/change/"
    management = {
        "header_name": "",
        "token_url": "",
        "scope": "",
        "credentials-TOTAL_FORMS": "2",
        "credentials-INITIAL_FORMS": "1",
        "credentials-MIN_NUM_FORMS": "0",
        "credentials-MAX_NUM_FORMS": "1000",
        "credentials-0-id": str(existing.pk),
        "credentials-0-auth_connector": str(connector.pk),
        "credentials-1-auth_connector": str(connector.pk),
        "credentials-1-environment": str(staging.pk),
    }

    missing = browser.post(url, management)
    stored_without_token = AuthConnectorCredential.objects.filter(environment=staging).exists()
    saved = browser.post(url, {**management, "credentials-1-token": "staging-token-77"})

    assert missing.status_code == 200  # the form is shown again: the token is required
    assert "Enter token" in missing.content.decode()
    assert not stored_without_token
    assert saved.status_code == 302
    credential = AuthConnectorCredential.objects.get(environment=staging)
    assert auth_credentials_get(credential=credential) == {"token": "staging-token-77"}
    assert auth_credentials_get(credential=existing) == {"token": "crm-t0k-plaintext-42"}
    assert "staging-token-77" not in browser.get(url).content.decode()
