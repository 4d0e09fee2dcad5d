"""Calls: one row per Twilio CallSid, its timeline, transcript and recording."""

from django.db import models

from agents.models import Agent, AgentVersion, Environment, Workspace
from connectors.models import PhoneConnector


class CallStatus(models.TextChoices):
    RINGING = "ringing", "Ringing"
    IN_PROGRESS = "in_progress", "In progress"
    COMPLETED = "completed", "Completed"
    TRANSFERRED = "transferred", "Transferred"
    REJECTED = "rejected", "Rejected"
    BUSY = "busy", "Busy"
    NO_ANSWER = "no_answer", "No answer"
    FAILED = "failed", "Failed"
    CANCELED = "canceled", "Canceled"


LIVE_STATUSES = (CallStatus.RINGING, CallStatus.IN_PROGRESS)


class CallSource(models.TextChoices):
    PHONE = "phone", "Phone"
    PLAYGROUND = "playground", "Playground"


class Call(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="calls")
    connector = models.ForeignKey(
        PhoneConnector, null=True, blank=True, on_delete=models.SET_NULL, related_name="calls"
    )
    agent = models.ForeignKey(Agent, null=True, blank=True, on_delete=models.SET_NULL)
    agent_version = models.ForeignKey(
        AgentVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="calls"
    )
    version_label = models.CharField(max_length=20, blank=True, help_text="v3, or draft")
    environment = models.ForeignKey(Environment, null=True, blank=True, on_delete=models.SET_NULL)
    agent_snapshot = models.JSONField(default=dict, blank=True)
    source = models.CharField(max_length=12, choices=CallSource.choices, default=CallSource.PHONE)
    call_sid = models.CharField(max_length=64, unique=True)
    account_sid = models.CharField(max_length=34, blank=True)
    stream_sid = models.CharField(max_length=64, blank=True)
    from_number = models.CharField(max_length=40, blank=True)
    to_number = models.CharField(max_length=40, blank=True)
    direction = models.CharField(max_length=20, default="inbound")
    status = models.CharField(max_length=12, choices=CallStatus.choices, default="ringing")
    outcome = models.CharField(max_length=200, blank=True)
    transferred_to = models.CharField(max_length=40, blank=True)
    ivr_params = models.JSONField(default=dict, blank=True)
    conversation = models.JSONField(default=dict, blank=True)
    input_errors = models.JSONField(default=dict, blank=True)
    summary = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    duration_seconds = models.PositiveIntegerField(null=True, blank=True)
    stream_ended_at = models.DateTimeField(null=True, blank=True)
    last_heartbeat_at = models.DateTimeField(null=True, blank=True)
    finalized_at = models.DateTimeField(null=True, blank=True)
    # The agent's extraction fields filled after the call (calls.postcall): {name: value}.
    extracted = models.JSONField(default=dict, blank=True)
    extracted_by = models.CharField(max_length=10, blank=True, help_text="rules, or llm")
    extracted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["workspace", "-created_at"])]

    def __str__(self) -> str:
        return self.call_sid

    @property
    def is_live(self) -> bool:
        return self.status in LIVE_STATUSES


class CallEvent(models.Model):
    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(auto_now_add=True)
    kind = models.CharField(max_length=40)
    message = models.CharField(max_length=500, blank=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}"


class Speaker(models.TextChoices):
    CALLER = "caller", "Caller"
    AGENT = "agent", "Agent"


class TranscriptSegment(models.Model):
    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="segments")
    speaker = models.CharField(max_length=10, choices=Speaker.choices)
    start_ms = models.PositiveIntegerField()
    end_ms = models.PositiveIntegerField()
    text = models.TextField()
    interrupted = models.BooleanField(default=False)

    class Meta:
        ordering = ["start_ms", "id"]

    def __str__(self) -> str:
        return f"{self.speaker}: {self.text}"

    @property
    def clock(self) -> str:
        """“m:ss” of the segment's start, as shown next to each transcript line."""
        seconds = self.start_ms // 1000
        return f"{seconds // 60}:{seconds % 60:02d}"


def recording_path(instance: "Recording", filename: str) -> str:
    return f"recordings/{instance.call.workspace_id}/{instance.call.call_sid}.wav"


class Recording(models.Model):
    call = models.OneToOneField(Call, on_delete=models.CASCADE, related_name="recording")
    file = models.FileField(upload_to=recording_path)
    duration_ms = models.PositiveIntegerField()
    size_bytes = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    channels = models.PositiveSmallIntegerField(default=2)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"Recording of {self.call.call_sid}"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Sending"
    SUCCEEDED = "succeeded", "Delivered"
    RETRYING = "retrying", "Failed, will retry"
    FAILED = "failed", "Failed"


class WebhookDelivery(models.Model):
    """One attempt to POST an event about a call to its environment's webhook
    (calls.postcall.webhooks). All attempts of one event share `delivery_id`, sent as a
    header so the receiver can de-duplicate."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="webhook_deliveries")
    environment = models.ForeignKey(
        Environment, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    event = models.CharField(max_length=40, default="call.ended")
    delivery_id = models.UUIDField(db_index=True)
    attempt = models.PositiveIntegerField(default=1)
    manual = models.BooleanField(default=False, help_text="Re-sent by hand.")
    url = models.URLField(max_length=500)
    status = models.CharField(
        max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    next_retry_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["environment", "-created_at"])]
        # A redelivered task finds its attempt already logged instead of sending it twice.
        constraints = [
            models.UniqueConstraint(fields=["delivery_id", "attempt"], name="unique_attempt")
        ]

    def __str__(self) -> str:
        return f"{self.event} #{self.attempt} for {self.call_id}: {self.status}"
