"""A field-by-field diff between two agent snapshots (a version or the draft), for the Versions
page: changed fields with their old and new values, list entries (actions, handovers, knowledge,
intents) added, removed or changed by name."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from agents.definitions.versions import DRAFT_FIELDS

# Keys that differ between any two snapshots without meaning anything to the reader.
IGNORED_KEYS = ("agent_id",)
# What names an entry of a list part, in order of preference.
ENTRY_KEYS = ("name", "question")
# How a list part's entry is called ("actions" → "action").
ENTRY_NOUNS = {
    "actions": "action",
    "handover_actions": "handover",
    "knowledge": "knowledge entry",
    "intents": "intent",
}


@dataclass(frozen=True)
class FieldChange:
    kind: str  # "changed", "added" or "removed"
    field: str  # "Greeting", "Action opening_hours · config.response"
    old: str = ""
    new: str = ""


def snapshot_text(snapshot: dict[str, Any]) -> list[str]:
    """The snapshot as stable lines, to tell whether two snapshots differ at all."""
    shown = {k: v for k, v in snapshot.items() if k not in IGNORED_KEYS}
    return json.dumps(shown, indent=2, sort_keys=True, ensure_ascii=False).splitlines()


def shown(value: Any) -> str:
    """A value as the reader should see it."""
    if value is None or value == "":
        return "(empty)"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def field_label(key: str) -> str:
    return key.replace("_", " ").capitalize()


def _entry_name(entry: Any, index: int) -> str:
    if isinstance(entry, dict):
        for key in ENTRY_KEYS:
            if isinstance(entry.get(key), str) and entry[key]:
                return str(entry[key])
    return f"#{index + 1}"


def _value_changes(path: str, old: Any, new: Any) -> list[FieldChange]:
    """Changes between two values of one field, descending into objects key by key."""
    if old == new or (not isinstance(old, dict | list) and shown(old) == shown(new)):
        return []  # (None and "" read the same: nothing the reader could see changed)
    if isinstance(old, dict) and isinstance(new, dict):
        changes: list[FieldChange] = []
        for key in sorted(set(old) | set(new)):
            sub = f"{path}.{key}"
            if key not in old:
                changes.append(FieldChange("added", sub, new=shown(new[key])))
            elif key not in new:
                changes.append(FieldChange("removed", sub, old=shown(old[key])))
            else:
                changes.extend(_value_changes(sub, old[key], new[key]))
        return changes
    return [FieldChange("changed", path, shown(old), shown(new))]


def _list_changes(key: str, old: list[Any], new: list[Any]) -> list[FieldChange]:
    """Entries of a list part added, removed or changed, matched by their name."""
    noun = ENTRY_NOUNS.get(key, field_label(key).lower())
    before = {_entry_name(e, i): e for i, e in enumerate(old)}
    after = {_entry_name(e, i): e for i, e in enumerate(new)}
    changes: list[FieldChange] = []
    for name in before:
        if name not in after:
            changes.append(FieldChange("removed", f"{noun.capitalize()} {name}"))
    for name, entry in after.items():
        label = f"{noun.capitalize()} {name}"
        if name not in before:
            changes.append(FieldChange("added", label))
        elif isinstance(entry, dict) and isinstance(before[name], dict):
            for field in sorted(set(before[name]) | set(entry)):
                changes.extend(
                    _value_changes(f"{label} · {field}", before[name].get(field), entry.get(field))
                )
        else:
            changes.extend(_value_changes(label, before[name], entry))
    if not changes and list(before) != list(after):
        changes.append(
            FieldChange("changed", f"{field_label(key)} order", ", ".join(before), ", ".join(after))
        )
    return changes


def snapshot_diff(old: dict[str, Any], new: dict[str, Any]) -> list[FieldChange]:
    """What changed from `old` to `new`, field by field; empty when they are the same."""
    changes: list[FieldChange] = []
    keys = [k for k in {**old, **new} if k not in IGNORED_KEYS]
    # The draft's fields in the order Studio shows them, then the parts (actions, handovers).
    keys.sort(key=lambda k: (DRAFT_FIELDS.index(k) if k in DRAFT_FIELDS else len(DRAFT_FIELDS), k))
    for key in keys:
        label = field_label(key)
        if key not in old:
            changes.append(FieldChange("added", label, new=shown(new[key])))
        elif key not in new:
            changes.append(FieldChange("removed", label, old=shown(old[key])))
        elif isinstance(old[key], list) and isinstance(new[key], list):
            changes.extend(_list_changes(key, old[key], new[key]))
        else:
            changes.extend(_value_changes(label, old[key], new[key]))
    return changes
