"""The Celery app: Redis broker in production, tasks run in-process on the embedded defaults."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "stellar.settings")

app = Celery("stellar")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
