"""Production settings pass Django's deployment checks, and the API schema is clean."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from cryptography.fernet import Fernet

PROJECT = Path(__file__).resolve().parent.parent


def manage(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(PROJECT / "manage.py"), *args],
        cwd=PROJECT,
        env=env or dict(os.environ),
        capture_output=True,
        text=True,
        timeout=240,
    )


def test_check_deploy_passes_with_production_settings():
    env = {
        **os.environ,
        "STELLAR_PRODUCTION": "1",
        "DJANGO_DEBUG": "0",
        "SECRET_KEY": "prod-" + Fernet.generate_key().decode() + Fernet.generate_key().decode(),
        "STELLAR_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "STELLAR_PUBLIC_URL": "https://stellar.example.com",
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)

    result = manage("check", "--deploy", "--fail-level", "WARNING", env=env)

    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "WARNINGS" not in output and "?: (security." not in output
    assert "no issues" in output


def test_production_refuses_to_start_without_its_secrets():
    env = {**os.environ, "STELLAR_PRODUCTION": "1", "STELLAR_PUBLIC_URL": "https://x.example"}
    for name in ("SECRET_KEY", "STELLAR_ENCRYPTION_KEYS"):
        env.pop(name, None)

    result = manage("check", env=env)

    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_api_schema_generates_without_warnings():
    result = manage("spectacular", "--validate", "--fail-on-warn", "--file", os.devnull)

    assert result.returncode == 0, result.stderr
    assert "Warning" not in result.stderr and "Error" not in result.stderr


def test_schema_is_served(client):
    response = client.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")

    assert response.status_code == 200
    paths = response.json()["paths"]
    assert "/api/v1/agents/{id}/publish/" in paths
    assert "/api/v1/phone-connectors/{id}/" in paths
