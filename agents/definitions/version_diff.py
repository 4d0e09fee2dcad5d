"""A line diff between two agent snapshots (a version or the draft), for the Versions page."""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from typing import Any

# Keys that differ between any two snapshots without meaning anything to the reader.
IGNORED_KEYS = ("agent_id",)


@dataclass(frozen=True)
class DiffLine:
    kind: str  # "add", "remove", "context" or "hunk"
    text: str

    @property
    def sign(self) -> str:
        return {"add": "+", "remove": "−", "hunk": ""}.get(self.kind, " ")


def snapshot_text(snapshot: dict[str, Any]) -> list[str]:
    shown = {k: v for k, v in snapshot.items() if k not in IGNORED_KEYS}
    return json.dumps(shown, indent=2, sort_keys=True, ensure_ascii=False).splitlines()


def snapshot_diff(
    old: dict[str, Any], new: dict[str, Any], *, old_label: str, new_label: str, context: int = 3
) -> list[DiffLine]:
    """Unified diff of the pretty JSON of two snapshots; empty when they are the same."""
    result = []
    diff = difflib.unified_diff(
        snapshot_text(old), snapshot_text(new), old_label, new_label, n=context, lineterm=""
    )
    for line in list(diff)[2:]:  # after the ---/+++ file header
        if line.startswith("@@"):
            result.append(DiffLine("hunk", line))
        elif line.startswith("+"):
            result.append(DiffLine("add", line[1:]))
        elif line.startswith("-"):
            result.append(DiffLine("remove", line[1:]))
        else:
            result.append(DiffLine("context", line[1:]))
    return result
