"""`call.ended` webhooks delivered by the real Celery worker to a local receiver that checks
the signature: retries with backoff, one accepted delivery per event, the give-up after the
retry window, and the re-send button in Studio."""

from __future__ import annotations

import hashlib
import hmac
import os
import threading
import time
from collections.abc import Callable

import pytest

from agents.config.services import workspace_create
from agents.config.webhooks import webhook_set
from agents.definitions.versions import agent_publish
from calls import tasks
from calls.models import Call, CallStatus, DeliveryStatus, TranscriptSegment, WebhookDelivery
from tests.factories import agent_make, environment_of, user_make
from tests.peers import RecordedRequest, Reply
from tests.peers.http_api import HttpApiPeer

# The worker reads these when the session starts it (after collection): retries after 0.3 s
# and 0.6 s, none after 2 s, so a receiver down "for longer than the window" takes ~1 s.
os.environ.setdefault("STELLAR_WEBHOOK_RETRY_BASE_SECONDS", "0.3")
os.environ.setdefault("STELLAR_WEBHOOK_RETRY_WINDOW_SECONDS", "2")

FIELDS = [
    {"name": "reason", "type": "text", "description": "Why they called", "options": []},
    {"name": "visit_date", "type": "date", "description": "Day of the visit", "options": []},
]
pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


class Receiver:
    """A team's endpoint: verifies Stellar-Signature, answers with the next scripted status
    (the last one repeats), and keeps what it accepted by delivery id (de-duplicated)."""

    def __init__(self, secret: str, statuses: list[int]) -> None:
        self.secret = secret
        self.statuses = list(statuses)
        self.accepted: dict[str, dict] = {}
        self.bad_signatures = 0
        self.lock = threading.Lock()

    def verified(self, request: RecordedRequest) -> bool:
        parts = dict(p.split("=", 1) for p in request.headers["stellar-signature"].split(","))
        signed = f"{parts['t']}.".encode() + request.body
        expected = hmac.new(self.secret.encode(), signed, hashlib.sha256).hexdigest()
        fresh = abs(time.time() - int(parts["t"])) < 300
        return fresh and hmac.compare_digest(expected, parts["v1"])

    def __call__(self, request: RecordedRequest) -> Reply:
        with self.lock:
            if not self.verified(request):
                self.bad_signatures += 1
                return Reply(401, {"error": "bad signature"})
            status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
            if status == 200:
                self.accepted.setdefault(request.headers["stellar-delivery-id"], request.json())
            return Reply(status, {"ok": status == 200})


def ended_call(url: str) -> tuple[Call, str]:
    """A finished call of an agent with extraction fields, in an environment with a webhook
    at `url`; returns it and the signing secret (shown once)."""
    owner = user_make("hook-owner")
    workspace = workspace_create(name="Plumbers", owner=owner)
    agent = agent_make(workspace=workspace, name="Dispatch", extraction_fields=FIELDS)
    version = agent_publish(agent=agent, note="with fields")
    environment = environment_of(workspace)
    _, secret = webhook_set(workspace=workspace, environment=environment, url=url)
    call = Call.objects.create(
        workspace=workspace,
        agent=agent,
        agent_version=version,
        version_label=version.label,
        environment=environment,
        agent_snapshot=version.snapshot,
        call_sid=f"CA{time.time_ns():032d}"[:34],
        from_number="+16175550142",
        to_number="+16175550100",
        status=CallStatus.COMPLETED,
    )
    for i, (speaker, text) in enumerate(
        [
            ("agent", "Rapid Plumbing, how can I help?"),
            ("caller", "Hi, my boiler stopped working. Can someone come on Thursday?"),
        ]
    ):
        TranscriptSegment.objects.create(
            call=call, speaker=speaker, start_ms=i * 2000, end_ms=i * 2000 + 1500, text=text
        )
    return call, secret


def wait_for(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.1)


def attempts(call: Call) -> list[WebhookDelivery]:
    return list(WebhookDelivery.objects.filter(call=call).order_by("attempt"))


def test_finalize_then_extract_then_a_signed_delivery(celery_worker_proc) -> None:
    with HttpApiPeer() as peer:
        call, secret = ended_call(peer.url("/hooks/stellar"))
        receiver = Receiver(secret, [200])
        peer.routes["/hooks/stellar"] = receiver
        tasks.finalize_call.delay(call.pk)  # the chain a call's end starts
        wait_for(lambda: bool(receiver.accepted))
    (payload,) = receiver.accepted.values()
    assert receiver.bad_signatures == 0
    assert payload["event"] == "call.ended"
    assert payload["data"]["call"]["call_sid"] == call.call_sid
    assert payload["data"]["extracted"] == {
        "reason": "My boiler stopped working",
        "visit_date": payload["data"]["extracted"]["visit_date"],
    }
    assert payload["data"]["extracted"]["visit_date"] is not None
    assert [t["speaker"] for t in payload["data"]["transcript"]] == ["agent", "caller"]
    (only,) = attempts(call)
    assert (only.status, only.response_code, only.attempt) == (DeliveryStatus.SUCCEEDED, 200, 1)
    assert str(only.delivery_id) == payload["id"]
    call.refresh_from_db()
    assert call.extracted_by == "rules" and call.extracted["reason"] == "My boiler stopped working"


def test_a_receiver_failing_twice_gets_one_delivery_and_three_attempts_are_logged(
    celery_worker_proc,
) -> None:
    with HttpApiPeer() as peer:
        call, secret = ended_call(peer.url("/hook"))
        receiver = Receiver(secret, [500, 429, 200])
        peer.routes["/hook"] = receiver
        tasks.process_ended_call.delay(call.pk)
        wait_for(lambda: any(a.status == DeliveryStatus.SUCCEEDED for a in attempts(call)))
        time.sleep(1.0)  # nothing more is sent once delivered
        requests = list(peer.requests)
    logged = attempts(call)
    assert [(a.attempt, a.status, a.response_code) for a in logged] == [
        (1, DeliveryStatus.RETRYING, 500),
        (2, DeliveryStatus.RETRYING, 429),
        (3, DeliveryStatus.SUCCEEDED, 200),
    ]
    assert len({a.delivery_id for a in logged}) == 1
    assert len(requests) == 3 and len(receiver.accepted) == 1
    assert {r.headers["stellar-delivery-id"] for r in requests} == {str(logged[0].delivery_id)}
    # the pauses grow: ~0.3 s, then ~0.6 s
    gaps = [b.received_at - a.received_at for a, b in zip(requests, requests[1:], strict=False)]
    assert gaps[0] >= 0.25 and gaps[1] >= 0.5 and gaps[1] > gaps[0]


def test_a_client_error_is_not_retried(celery_worker_proc) -> None:
    with HttpApiPeer() as peer:
        call, secret = ended_call(peer.url("/hook"))
        peer.routes["/hook"] = Receiver(secret, [422])
        tasks.process_ended_call.delay(call.pk)
        wait_for(lambda: any(a.status == DeliveryStatus.FAILED for a in attempts(call)))
        time.sleep(0.8)
    ((status, code, next_retry),) = [
        (a.status, a.response_code, a.next_retry_at) for a in attempts(call)
    ]
    assert (status, code, next_retry) == (DeliveryStatus.FAILED, 422, None)


def test_down_longer_than_the_window_shows_failed_and_the_button_resends(
    celery_worker_proc, client
) -> None:
    with HttpApiPeer() as peer:
        call, secret = ended_call(peer.url("/hook"))
        receiver = Receiver(secret, [503])
        peer.routes["/hook"] = receiver
        tasks.process_ended_call.delay(call.pk)
        wait_for(lambda: any(a.status == DeliveryStatus.FAILED for a in attempts(call)))
        logged = attempts(call)
        assert [a.status for a in logged] == [
            DeliveryStatus.RETRYING,
            DeliveryStatus.RETRYING,
            DeliveryStatus.FAILED,
        ]
        assert not receiver.accepted

        client.force_login(call.workspace.memberships.get().user)
        page = client.get(f"/conversations/{call.pk}/").content.decode()
        assert 'data-status="failed"' in page and "HTTP 503" in page
        deliveries = client.get(f"/environments/{call.environment_id}/deliveries/")
        assert deliveries.status_code == 200
        assert deliveries.content.decode().count('data-status="') == 3

        receiver.statuses = [200]  # back up
        response = client.post(f"/conversations/{call.pk}/webhook/resend/")
        assert response.status_code == 302
        wait_for(lambda: bool(receiver.accepted))
    wait_for(lambda: attempts(call)[-1].status == DeliveryStatus.SUCCEEDED)
    last = attempts(call)[-1]
    assert (last.attempt, last.manual, last.delivery_id) == (4, True, logged[0].delivery_id)
    page = client.get(f"/conversations/{call.pk}/").content.decode()
    assert 'data-status="succeeded"' in page and "by hand" in page
