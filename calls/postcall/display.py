"""How a call's extracted values read on its Studio page."""

from __future__ import annotations

from typing import Any

from calls.models import Call


def extracted_rows(call: Call) -> list[tuple[str, str, str]]:
    """(name, type, value as read) per field of the version that answered, in its order;
    "—" for a field the caller did not give."""
    fields = (call.agent_snapshot or {}).get("extraction_fields") or []
    values: dict[str, Any] = call.extracted or {}
    rows = []
    for field in fields:
        value = values.get(field["name"])
        if value is None:
            shown = "—"
        elif isinstance(value, bool):
            shown = "Yes" if value else "No"
        else:
            shown = str(value)
        rows.append((field["name"], field["type"], shown))
    return rows
