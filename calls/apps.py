from django.apps import AppConfig


class CallsConfig(AppConfig):
    name = "calls"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Imported here: models and other apps are only ready once the registry is.
        from calls import tasks
        from calls.signals import call_finished

        call_finished.connect(tasks.enqueue_finalize, dispatch_uid="calls.enqueue_finalize")
