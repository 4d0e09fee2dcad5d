from django.apps import AppConfig


class HandoversConfig(AppConfig):
    name = "handovers"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Plug handover actions into agents without agents importing handovers: versions
        snapshot and restore them with the agent's other actions (under "handover_actions"),
        they share the agent's namespace of action names, and the Actions tab lists them."""
        # Imported here: models and views can only be imported once the app registry is ready.
        from agents.definitions.parts import DefinitionPart, definition_part_register
        from agents.definitions.studio_views.actions import actions_tab_register
        from handovers.models import SNAPSHOT_FIELDS, HandoverAction
        from handovers.studio_views import actions_tab_section

        definition_part_register(
            DefinitionPart(key="handover_actions", model=HandoverAction, fields=SNAPSHOT_FIELDS)
        )
        actions_tab_register("handovers", actions_tab_section)
