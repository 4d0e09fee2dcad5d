"""The REST API under Schemathesis: requests generated from our own OpenAPI schema, sent to a
live Daphne as a workspace owner, with a second workspace present so foreign ids exist.

Coverage, fuzzing and stateful phases with a fixed seed and a bounded number of examples per
operation (about a minute on two cores). Every response must be no server error, carry a status
code and a content type the schema declares, and match the declared body schema.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from rest_framework.authtoken.models import Token

from tests.factories import world_make

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(300)]

SEED = 21013
MAX_EXAMPLES = 5
PHASES = "coverage,fuzzing,stateful"
CHECKS = (
    "not_a_server_error,status_code_conformance,content_type_conformance,"
    "response_schema_conformance"
)


def _schemathesis(server_url: str, token: str, report: Path, env: dict[str, str]) -> str:
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--no-color",
        "run",
        f"{server_url}/api/v1/schema/",
        "--header",
        f"Authorization: Token {token}",
        "--phases",
        PHASES,
        "--checks",
        CHECKS,
        "--seed",
        str(SEED),
        "--max-examples",
        str(MAX_EXAMPLES),
        "--workers",
        "1",  # CPython 3.11's ast is not thread-safe under Hypothesis' lambda descriptions
        "--request-timeout",
        "20",
        "--report",
        "json",
        "--report-json-path",
        str(report),
    ]
    run = subprocess.run(  # noqa: S603 - our own interpreter and arguments
        command,
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, **env, "NO_PROXY": "127.0.0.1,localhost"},
        cwd=report.parent,
    )
    return run.stdout + run.stderr


def test_generated_requests_get_only_documented_answers_and_no_server_errors(live_daphne, tmp_path):
    # Given workspace A (its owner acts, with a token) and workspace B of another owner
    world = world_make()
    owner = world.users["owner"]
    token = Token.objects.create(user=owner).key
    own_membership = owner.memberships.get(workspace=world.a.workspace)
    report = tmp_path / "schemathesis.json"

    # When Schemathesis generates requests for every operation of /api/v1/schema/
    output = _schemathesis(
        live_daphne.url,
        token,
        report,
        {
            "SCHEMATHESIS_HOOKS": "tests.schemathesis_hooks",
            "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
            "STELLAR_FUZZ_OWN_MEMBERSHIP": str(own_membership.pk),
            "STELLAR_FUZZ_SPARE_MEMBERSHIP": str(world.extra_member.pk),
        },
    )

    # Then all three phases ran over all operations, and no check failed
    assert report.exists(), output[-4000:]
    result = json.loads(report.read_text())
    print(f"Schemathesis: {result['test_cases']} in {result['running_time']:.0f}s")  # noqa: T201
    assert result["operations"]["selected"] == result["operations"]["tested"], output[-4000:]
    assert result["operations"]["tested"] >= 60, result["operations"]
    assert {name: phase["status"] for name, phase in result["phases"].items()} == {
        "examples": "skip",
        "coverage": "success",
        "fuzzing": "success",
        "stateful": "success",
    }, output[-8000:]
    assert result["test_cases"]["generated"] > 1000, result["test_cases"]
    assert result["failures"] == [] and result["errors"] == [], output[-8000:]
    assert result["exit_code"] == 0, output[-8000:]
