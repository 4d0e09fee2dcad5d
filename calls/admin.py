"""Admin of calls: read-only, with the timeline and transcript inline."""

from django.contrib import admin

from calls.models import Call, CallEvent, Recording, TranscriptSegment


class ReadOnlyMixin:
    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class CallEventInline(ReadOnlyMixin, admin.TabularInline):
    model = CallEvent
    fields = ["at", "kind", "message", "data"]
    readonly_fields = fields
    extra = 0


class TranscriptSegmentInline(ReadOnlyMixin, admin.TabularInline):
    model = TranscriptSegment
    fields = ["speaker", "start_ms", "end_ms", "text", "interrupted"]
    readonly_fields = fields
    extra = 0


class RecordingInline(ReadOnlyMixin, admin.StackedInline):
    model = Recording
    fields = ["file", "duration_ms", "size_bytes", "channels", "sha256", "created_at"]
    readonly_fields = fields
    extra = 0


@admin.register(Call)
class CallAdmin(ReadOnlyMixin, admin.ModelAdmin):
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
class CallEventAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["call", "at", "kind", "message"]
    list_filter = ["kind"]
    search_fields = ["call__call_sid", "message"]


@admin.register(TranscriptSegment)
class TranscriptSegmentAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["call", "speaker", "start_ms", "text"]
    list_filter = ["speaker"]
    search_fields = ["call__call_sid", "text"]


@admin.register(Recording)
class RecordingAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["call", "duration_ms", "size_bytes", "created_at"]
    search_fields = ["call__call_sid"]
