"""The webhook signature and the retry schedule, without services (calls.postcall.webhooks)."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

from calls.postcall.webhooks import RetryPolicy, sign


def test_the_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    body = b'{"event":"call.ended"}'
    header = sign("whsec_test", 1767225600, body)
    expected = hmac.new(b"whsec_test", b"1767225600." + body, hashlib.sha256).hexdigest()
    assert header == f"t=1767225600,v1={expected}"
    # any change to the body, the time or the secret gives another signature
    assert sign("whsec_test", 1767225600, body + b" ") != header
    assert sign("whsec_test", 1767225601, body) != header
    assert sign("whsec_other", 1767225600, body) != header


def test_the_docs_verification_snippet_accepts_our_signature_and_refuses_others() -> None:
    """docs/webhooks.md's snippet, kept in step with the signer (copied here verbatim)."""
    import time

    def verify(secret: str, header: str, body: bytes, tolerance: int = 300) -> bool:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
        if abs(time.time() - timestamp) > tolerance:
            return False
        signed = f"{timestamp}.".encode() + body
        expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, parts["v1"])

    now = int(time.time())
    assert verify("whsec_a", sign("whsec_a", now, b"{}"), b"{}")
    assert not verify("whsec_b", sign("whsec_a", now, b"{}"), b"{}")
    assert not verify("whsec_a", sign("whsec_a", now - 3600, b"{}"), b"{}")  # replayed


def test_retries_double_up_to_the_cap_and_stop_at_the_window() -> None:
    policy = RetryPolicy(base_seconds=10, max_seconds=240, window_seconds=3600)
    assert [policy.delay(n) for n in range(1, 8)] == [10, 20, 40, 80, 160, 240, 240]
    start = datetime(2026, 3, 11, 12, 0, tzinfo=UTC)
    assert policy.next_retry(attempt=1, window_start=start, now=start) == start + timedelta(
        seconds=10
    )
    late = start + timedelta(seconds=3500)
    assert policy.next_retry(attempt=9, window_start=start, now=late) is None
