"""When a membership changes, the member's live sockets (Listen, Playground) check their rights
again: a removed member stops listening at once, a demoted one loses take-over.

Membership rows change in agents.tenancy (services, the API, admin, a deleted user's cascade);
agents knows nothing of calls, so the calls app listens to the model's own signals
(connected in CallsConfig.ready) and tells the member's sockets over the channel layer.
"""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)

ACCESS_CHANGED = "access.changed"  # handled by the consumers' access_changed()


def member_group(user_id: int) -> str:
    """The group every live socket of one user joins."""
    return f"live-member-{user_id}"


def _tell_sockets(user_id: int) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(member_group(user_id), {"type": ACCESS_CHANGED})
    except Exception:  # the change stands; sockets still re-check on each take-over
        logger.exception("could not tell user %s's live sockets that their access changed", user_id)


def membership_changed(sender: Any, instance: Any, **kwargs: Any) -> None:
    """post_save / post_delete of a Membership: notify once the change is committed."""
    user_id = instance.user_id
    transaction.on_commit(lambda: _tell_sockets(user_id))
