from django.urls import path

from . import views

urlpatterns = [
    path("v1/calls/<int:call_id>/connect-ended", views.connect_ended, name="connect-ended"),
    path("v1/calls/<int:call_id>/dial-status", views.dial_status, name="dial-status"),
]
