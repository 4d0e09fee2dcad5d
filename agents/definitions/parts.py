"""The parts of an agent's definition besides its own fields: its kinds of action.

A part is a model with a foreign key `agent` and a `name`. A version snapshot stores each part
under its `key` as a list of {field: value} ordered by name; restoring a version replaces the
draft's rows with those; and all parts share one namespace of action names per agent, because
the brain picks an action by its name.

The agent's own actions are registered by agents (AgentsConfig.ready()); apps above agents
register theirs in their own AppConfig.ready() (handovers: its handover actions). So the
snapshot, the restore and the name check cover every kind of action without agents importing
those apps. The registration order is the order of the keys in a snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import models

from agents.definitions.models import Agent


@dataclass(frozen=True)
class DefinitionPart:
    key: str  # where a snapshot keeps the rows, e.g. "actions"
    model: type[models.Model]  # has `agent` (a ForeignKey to Agent) and `name`
    fields: tuple[str, ...]  # what a snapshot keeps of each row

    def _rows(self, agent: Agent | int) -> models.QuerySet[Any]:
        return self.model._default_manager.filter(agent=agent)

    def dump(self, agent: Agent) -> list[dict[str, Any]]:
        """The agent's rows as plain JSON, ordered by name."""
        return [
            {f: getattr(row, f) for f in self.fields} for row in self._rows(agent).order_by("name")
        ]

    def restore(self, agent: Agent, items: list[dict[str, Any]]) -> None:
        """Replace the agent's rows with `items` (as dump() made them)."""
        self._rows(agent).delete()
        for item in items:
            self.model._default_manager.create(
                agent=agent, **{f: item[f] for f in self.fields if f in item}
            )

    def _others(self, agent: Agent | int, exclude: models.Model | None) -> models.QuerySet[Any]:
        rows = self._rows(agent)
        if isinstance(exclude, self.model) and exclude.pk is not None:
            rows = rows.exclude(pk=exclude.pk)
        return rows

    def names(self, agent: Agent | int, exclude: models.Model | None = None) -> list[str]:
        """The names of the agent's rows, but `exclude`'s (a row being edited)."""
        return list(self._others(agent, exclude).values_list("name", flat=True))

    def name_taken(
        self, agent: Agent | int, name: str, exclude: models.Model | None = None
    ) -> bool:
        return self._others(agent, exclude).filter(name=name).exists()


_PARTS: dict[str, DefinitionPart] = {}
# The key under which handovers (registered by the handovers app) keep their actions: the
# engine reads it from snapshots, and an agent's default human handover names one of them.
HANDOVER_PART_KEY = "handover_actions"


def definition_part_register(part: DefinitionPart) -> None:
    """Add (or, under the same key, replace) a part; call it from an AppConfig.ready()."""
    _PARTS[part.key] = part


def definition_parts() -> tuple[DefinitionPart, ...]:
    return tuple(_PARTS.values())
