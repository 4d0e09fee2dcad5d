from django.apps import AppConfig


class AgentsConfig(AppConfig):
    name = "agents"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """The agent's own actions are the first part of its definition (a version snapshot
        keeps them under "actions"); apps above agents register their parts after it. Every
        publish runs the agent's tests (agents.testing), registered as a publish check."""
        # Imported here: models can only be imported once the app registry is ready.
        from agents.definitions.parts import definition_part_register
        from agents.definitions.versions import (
            AGENT_ACTIONS,
            PublishCheck,
            publish_check_register,
        )
        from agents.testing.runner import publish_report, publish_run

        definition_part_register(AGENT_ACTIONS)
        publish_check_register(PublishCheck(run=publish_run, report=publish_report))
        # Celery's autodiscovery finds only `agents.tasks`; workers learn this task here.
        import agents.testing.tasks  # noqa: F401
