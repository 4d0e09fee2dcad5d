"""Root URLs plus the Live pages (see tests/live_asgi.py)."""

from django.urls import include, path

from stellar.urls import urlpatterns as stellar_urlpatterns

urlpatterns = [path("", include("calls.live_urls")), *stellar_urlpatterns]
