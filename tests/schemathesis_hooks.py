"""Schemathesis hooks for tests/test_api_schemathesis.py (loaded through SCHEMATHESIS_HOOKS).

The run acts as a workspace owner. An owner may legitimately remove or demote itself (once
another owner exists), after which every later request is a 403 and the rest of the run tests
nothing. So a write aimed at the acting owner's own membership is pointed at the spare member
instead: member changes are still exercised, the run keeps its rights.
"""

from __future__ import annotations

import os
from typing import Any

import schemathesis

OWN_MEMBERSHIP = os.environ.get("STELLAR_FUZZ_OWN_MEMBERSHIP", "")
SPARE_MEMBERSHIP = os.environ.get("STELLAR_FUZZ_SPARE_MEMBERSHIP", "")
MEMBER_PATH = "/api/v1/members/{id}/"


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    if (
        case.path == MEMBER_PATH
        and case.method.upper() in {"PUT", "PATCH", "DELETE"}
        and str(case.path_parameters.get("id")) == OWN_MEMBERSHIP
    ):
        case.path_parameters["id"] = int(SPARE_MEMBERSHIP)  # in place: Schemathesis sees it
