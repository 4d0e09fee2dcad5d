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
HANDOVER_OUTCOMES = Counter(
    "stellar_handover_outcomes_total", "Handover dial outcomes", ["outcome"]
)
FINALIZE_OUTCOMES = Counter("stellar_finalize_total", "finalize_call task outcomes", ["outcome"])
CALL_LIMITS = Counter(
    "stellar_call_limits_total",
    "Calls that hit a bounded-work cap (call length, spool size, line length)",
    ["limit"],
)
