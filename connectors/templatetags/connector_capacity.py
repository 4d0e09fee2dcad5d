"""{% capacity_card connector %}: the capacity card on the connector page, with its own data,
so the page's view need not know about capacity."""

from __future__ import annotations

from typing import Any

from django import template

from connectors.capacity_views import capacity_card_context
from connectors.models import PhoneConnector

register = template.Library()


@register.inclusion_tag("studio/connectors/_capacity_card.html", takes_context=True)
def capacity_card(context: template.Context, connector: PhoneConnector) -> dict[str, Any]:
    studio = getattr(context.get("request"), "studio", None)
    card = capacity_card_context(
        connector,
        can_write=bool(studio and studio.can_edit),
        can_admin=bool(studio and studio.can_admin),
    )
    card["request"] = context.get("request")
    card["csrf_token"] = context.get("csrf_token")
    return card
