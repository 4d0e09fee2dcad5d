"""Writes of handover actions; full_clean() validates and normalises phone numbers to E.164.

Creating, changing and deleting go through the same services as the agent's other actions
(agents.definitions.versions), which also keep the agent's one namespace of action names.
The REST API and the Studio pages both call these.
"""

from typing import Any

from django.core.exceptions import ValidationError

from agents.definitions.models import Agent
from agents.definitions.versions import action_change, action_delete, action_save
from handovers.models import SNAPSHOT_FIELDS, HandoverAction


def handover_action_create(*, agent: Agent, **fields: Any) -> HandoverAction:
    unknown = set(fields) - set(SNAPSHOT_FIELDS)
    if unknown:
        raise ValidationError(f"Unknown handover fields: {', '.join(sorted(unknown))}.")
    return action_save(action=HandoverAction(agent=agent, **fields))


def handover_action_update(*, action: HandoverAction, **changes: Any) -> HandoverAction:
    return action_change(action=action, fields=SNAPSHOT_FIELDS, changes=changes)


def handover_action_delete(*, action: HandoverAction) -> None:
    action_delete(action=action)
