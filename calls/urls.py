from django.urls import path

from . import views

urlpatterns = [
    path("v1/calls/<int:call_id>/connect-ended", views.connect_ended, name="connect-ended"),
]
