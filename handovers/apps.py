from django.apps import AppConfig


class HandoversConfig(AppConfig):
    name = "handovers"
    default_auto_field = "django.db.models.BigAutoField"
