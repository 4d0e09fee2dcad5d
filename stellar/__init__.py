"""Stellar project package: settings, ASGI/Celery entry points, root URLs."""

from .celery import app as celery_app

__all__ = ["celery_app"]
