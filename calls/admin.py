"""Admin of calls: read-only, with the timeline and transcript inline."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Model
from django.http import HttpRequest

from calls.models import Call, CallEvent, Recording, TranscriptSegment, WebhookDelivery


class ReadOnlyMixin:
    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


# Every field shown is read-only (tuples: what both `fields` and `readonly_fields` accept).
EVENT_FIELDS = ("at", "kind", "message", "data")
SEGMENT_FIELDS = ("speaker", "start_ms", "end_ms", "text", "interrupted")
RECORDING_FIELDS = ("file", "duration_ms", "size_bytes", "channels", "sha256", "created_at")


class CallEventInline(ReadOnlyMixin, admin.TabularInline[CallEvent, Call]):
    model = CallEvent
    fields = readonly_fields = EVENT_FIELDS
    extra = 0


class TranscriptSegmentInline(ReadOnlyMixin, admin.TabularInline[TranscriptSegment, Call]):
    model = TranscriptSegment
    fields = readonly_fields = SEGMENT_FIELDS
    extra = 0


class RecordingInline(ReadOnlyMixin, admin.StackedInline[Recording, Call]):
    model = Recording
    fields = readonly_fields = RECORDING_FIELDS
    extra = 0


@admin.register(Call)
class CallAdmin(ReadOnlyMixin, admin.ModelAdmin[Call]):
    list_display = [
        "call_sid",
        "workspace",
        "status",
        "from_number",
        "to_number",
        "version_label",
        "created_at",
        "duration_seconds",
    ]
    list_filter = ["status", "source", "direction"]
    search_fields = ["call_sid", "from_number", "to_number"]
    date_hierarchy = "created_at"
    inlines = [CallEventInline, TranscriptSegmentInline, RecordingInline]


@admin.register(CallEvent)
class CallEventAdmin(ReadOnlyMixin, admin.ModelAdmin[CallEvent]):
    list_display = ["call", "at", "kind", "message"]
    list_filter = ["kind"]
    search_fields = ["call__call_sid", "message"]


@admin.register(TranscriptSegment)
class TranscriptSegmentAdmin(ReadOnlyMixin, admin.ModelAdmin[TranscriptSegment]):
    list_display = ["call", "speaker", "start_ms", "text"]
    list_filter = ["speaker"]
    search_fields = ["call__call_sid", "text"]


@admin.register(Recording)
class RecordingAdmin(ReadOnlyMixin, admin.ModelAdmin[Recording]):
    list_display = ["call", "duration_ms", "size_bytes", "created_at"]
    search_fields = ["call__call_sid"]


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyMixin, admin.ModelAdmin[WebhookDelivery]):
    list_display = ["call", "event", "attempt", "status", "response_code", "created_at"]
    list_filter = ["status"]
    search_fields = ["call__call_sid", "delivery_id"]
