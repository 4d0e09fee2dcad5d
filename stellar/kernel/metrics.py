"""Prometheus metrics of this process (exposed at /metrics; one scrape target per process)."""

from prometheus_client import Counter, Gauge, Histogram

ACTIVE_CALLS = Gauge("stellar_active_calls", "Media streams open on this process")
CALLS_STARTED = Counter("stellar_calls_started_total", "Media streams started on this process")
WEBHOOK_LATENCY = Histogram(
    "stellar_webhook_seconds",
    "Voice webhook handling time",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
TURN_LATENCY = Histogram(
    "stellar_turn_latency_seconds",
    "Caller stops speaking → first agent audio frame sent",
    buckets=(0.25, 0.5, 0.75, 1, 1.25, 1.5, 2, 3, 5),
)
TURN_STAGE = Histogram(
    "stellar_turn_stage_seconds",
    "What each stage of a caller turn added to its latency (calls.runtime.timing.STAGES)",
    ["stage"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1, 2, 5),
)
FRAMES_DROPPED = Counter(
    "stellar_frames_dropped_total", "Inbound frames rejected as bad input", ["reason"]
)
MONITOR_DROPPED = Counter(
    "stellar_monitor_messages_dropped_total",
    "Live-monitor messages not sent to listeners (the call's process fell behind)",
)
MONITOR_LISTENER_DROPPED = Counter(
    "stellar_monitor_listener_dropped_total",
    "Live-monitor messages one listener's own queue dropped (that listener fell behind)",
)
HANDOVER_OUTCOMES = Counter(
    "stellar_handover_outcomes_total", "Handover dial outcomes", ["outcome"]
)
HANDOVER_WHISPERS = Counter(
    "stellar_handover_whispers_total",
    "Warm-handover whispers: prepared when dialling, served when the person answered",
    ["stage"],
)
FINALIZE_OUTCOMES = Counter("stellar_finalize_total", "finalize_call task outcomes", ["outcome"])
CALL_LIMITS = Counter(
    "stellar_call_limits_total",
    "Calls that hit a bounded-work cap (call length, spool size, line length)",
    ["limit"],
)
CALLS_OVERFLOWED = Counter(
    "stellar_calls_overflowed_total",
    "Calls given the connector's overflow rule instead of the agent (docs/capacity.md)",
    ["reason"],
)
PROCESS_OVERLOADED = Gauge(
    "stellar_process_overloaded", "1 while this media process reports itself overloaded"
)
SPEECH_QUEUE_WAIT = Gauge(
    "stellar_speech_queue_wait_seconds", "Recent longest wait of a job for a speech thread"
)
HOLD_LINES = Counter(
    "stellar_hold_lines_total", "Holding lines played because a turn's answer was late"
)
ROLLOUT_ROUTES = Counter(
    "stellar_rollout_calls_total",
    "Calls placed by a connector's rollout: route agent/existing_line, arm current/candidate",
    ["route", "arm"],
)
OUTBOUND_WEBHOOK_ATTEMPTS = Counter(
    "stellar_outbound_webhook_attempts_total",
    "call.ended webhook attempts to teams' systems: status succeeded/retrying/failed",
    ["status"],
)
EXTRACTIONS = Counter(
    "stellar_extractions_total", "Calls whose extraction fields were filled, by method", ["method"]
)
