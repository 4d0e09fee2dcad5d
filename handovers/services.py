"""Writes of handover actions; full_clean() validates and normalises phone numbers to E.164."""

from typing import Any

from django.core.exceptions import ValidationError

from agents.definitions.versions import HANDOVER_FIELDS, action_full_clean
from agents.models import Agent
from handovers.models import HandoverAction


def handover_action_create(*, agent: Agent, **fields: Any) -> HandoverAction:
    unknown = set(fields) - set(HANDOVER_FIELDS)
    if unknown:
        raise ValidationError(f"Unknown handover fields: {', '.join(sorted(unknown))}.")
    action = HandoverAction(agent=agent, **fields)
    action_full_clean(action=action)
    action.save()
    return action


def handover_action_update(*, action: HandoverAction, **changes: Any) -> HandoverAction:
    for field, value in changes.items():
        if field not in HANDOVER_FIELDS:
            raise ValidationError(f"{field} cannot be changed.")
        setattr(action, field, value)
    action_full_clean(action=action)
    action.save()
    return action


def handover_action_delete(*, action: HandoverAction) -> None:
    action.delete()
