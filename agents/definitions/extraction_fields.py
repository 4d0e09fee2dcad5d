"""Extraction fields: what an agent's calls should yield as data once they end.

They are part of the agent's definition (the draft's `extraction_fields`, snapshotted with
every version), so a call is filled in by the fields of the version that answered it.
calls.postcall fills them; this module only says what a valid list looks like.
"""

from __future__ import annotations

import re
from typing import Any

FIELD_TYPES: dict[str, str] = {
    "text": "Text",
    "number": "Number",
    "date": "Date",
    "phone": "Phone number",
    "yes_no": "Yes / no",
    "choice": "Choice",
}
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
MAX_FIELDS = 20
MAX_OPTIONS = 30
MAX_DESCRIPTION = 300


def extraction_field_problems(value: Any) -> list[str]:
    """What is wrong with a list of extraction fields, in words an editor can act on."""
    if not isinstance(value, list):
        return ['Extraction fields are a list of {"name", "type", "description", "options"}.']
    if len(value) > MAX_FIELDS:
        return [f"An agent has at most {MAX_FIELDS} extraction fields."]
    problems: list[str] = []
    seen: set[str] = set()
    for position, item in enumerate(value, start=1):
        if not isinstance(item, dict):
            problems.append(f"Field {position} is not an object.")
            continue
        name = item.get("name")
        label = f"Field {position}"
        if not isinstance(name, str) or not NAME_PATTERN.match(name):
            problems.append(
                f"{label}: the name is a slug of lowercase letters, digits and underscores, "
                "starting with a letter (e.g. appointment_date)."
            )
        else:
            label = name
            if name in seen:
                problems.append(f"{name}: two fields have this name.")
            seen.add(name)
        kind = item.get("type")
        if kind not in FIELD_TYPES:
            problems.append(f"{label}: the type is one of {', '.join(FIELD_TYPES)}.")
        description = item.get("description", "")
        if not isinstance(description, str) or len(description) > MAX_DESCRIPTION:
            problems.append(
                f"{label}: the description is text of {MAX_DESCRIPTION} characters at most."
            )
        options = item.get("options", [])
        if kind == "choice":
            if (
                not isinstance(options, list)
                or not options
                or len(options) > MAX_OPTIONS
                or not all(isinstance(o, str) and o.strip() for o in options)
            ):
                problems.append(
                    f"{label}: a choice needs 1 to {MAX_OPTIONS} options, each a non-empty text."
                )
        elif options not in ([], None):
            problems.append(f"{label}: only a choice has options.")
        unknown = set(item) - {"name", "type", "description", "options"}
        if unknown:
            problems.append(f"{label}: unknown keys {', '.join(sorted(unknown))}.")
    return problems


def extraction_fields_clean(value: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A valid list in its stored shape: every key present, options trimmed (choice only)."""
    return [
        {
            "name": item["name"],
            "type": item["type"],
            "description": str(item.get("description") or "").strip(),
            "options": [o.strip() for o in item.get("options") or []]
            if item["type"] == "choice"
            else [],
        }
        for item in value
    ]
