from django.apps import AppConfig


class AgentsConfig(AppConfig):
    name = "agents"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """The agent's own actions are the first part of its definition (a version snapshot
        keeps them under "actions"); apps above agents register their parts after it."""
        # Imported here: models can only be imported once the app registry is ready.
        from agents.definitions.parts import definition_part_register
        from agents.definitions.versions import AGENT_ACTIONS

        definition_part_register(AGENT_ACTIONS)
