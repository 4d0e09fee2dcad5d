from django.apps import AppConfig


class CallsConfig(AppConfig):
    name = "calls"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Imported here: models and other apps are only ready once the registry is.
        from django.db.models.signals import post_delete, post_save

        from agents.models import Membership
        from calls import tasks
        from calls.live.access_events import membership_changed
        from calls.signals import call_finished

        call_finished.connect(tasks.enqueue_finalize, dispatch_uid="calls.enqueue_finalize")
        for signal in (post_save, post_delete):
            signal.connect(membership_changed, sender=Membership, dispatch_uid="calls.live.access")
