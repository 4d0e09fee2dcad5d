"""Agent tests in the Django admin: read-only records for the people who run the platform
(members write tests in Studio or through the API, where they are validated)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from agents.testing.models import AgentTestCase, AgentTestRun


class ReadOnlyAdmin(admin.ModelAdmin[Any]):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(AgentTestCase)
class AgentTestCaseAdmin(ReadOnlyAdmin):
    list_display = ("name", "agent", "generated", "updated_at")
    list_filter = ("generated",)
    search_fields = ("name", "agent__name")


@admin.register(AgentTestRun)
class AgentTestRunAdmin(ReadOnlyAdmin):
    list_display = ("agent", "target_label", "brain", "trigger", "status", "passed", "total")
    list_filter = ("status", "trigger", "brain")
    search_fields = ("agent__name",)
