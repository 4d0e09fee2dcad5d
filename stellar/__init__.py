"""Stellar project package: settings, ASGI/Celery entry points, root URLs."""

from stellar.celery import app as celery_app

__all__ = ["celery_app"]
