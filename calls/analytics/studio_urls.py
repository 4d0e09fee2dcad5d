"""Studio URLs of analytics (included by calls.studio_urls, so in the `studio` namespace)."""

from django.urls import path

from calls.analytics import studio_views as views

urlpatterns = [
    path("analytics/", views.dashboard_view, name="analytics"),
    path("conversations/export.csv", views.call_export_view, name="call-export"),
]
