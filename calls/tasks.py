"""Celery tasks of the calls app: thin wrappers around calls.recordings.finalize."""

import logging

from celery import shared_task

from calls.models import Call
from calls.postcall import tasks_impl as postcall
from calls.recordings import finalize, shipping
from stellar.kernel.metrics import FINALIZE_OUTCOMES

logger = logging.getLogger(__name__)


@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(Exception,),
    retry_backoff=2,
    # Below the broker's visibility timeout (300 s): a retry waiting longer than that would be
    # handed out again meanwhile (harmless, finalizing is idempotent, but a storm of copies).
    retry_backoff_max=240,
    max_retries=8,
)
def finalize_call(call_id: int, rebuild: bool = False) -> None:
    try:
        finalize.call_finalize(call_id=call_id, rebuild=rebuild)
    except Call.DoesNotExist:
        # Deleted since it ended (a workspace removed, retention): nothing left to do, and
        # retrying would never find it.
        FINALIZE_OUTCOMES.labels("gone").inc()
        logger.warning("finalize_call: call %s no longer exists", call_id)
        return
    except Exception:
        FINALIZE_OUTCOMES.labels("error").inc()
        raise
    FINALIZE_OUTCOMES.labels("ok").inc()
    if not rebuild:  # a rebuilt recording changes nothing the post-call step sent
        process_ended_call.delay(call_id)


def enqueue_finalize(sender: object, *, call_id: int, **kwargs: object) -> None:
    """Receiver of calls.signals.call_finished (connected in CallsConfig.ready)."""
    finalize_call.delay(call_id)


def ship_host_spools(*, grace: float = shipping.SWEEP_GRACE_SECONDS) -> list[int]:
    """This host's spool sweep (manage.py spool_ship); not a Celery task, since it must run on
    the machine holding the spools. A late part gets its call's recording rebuilt."""
    shipped = shipping.sweep_host(grace=grace)
    for call_id in shipping.finalized_among(shipped):
        logger.warning("call %s: spool part arrived after finalizing; rebuilding", call_id)
        finalize_call.delay(call_id, rebuild=True)
    return shipped


@shared_task
def sweep_stale_calls() -> None:
    finalize.calls_sweep_stale()  # ending a call enqueues its finalize_call


@shared_task
def purge_expired_recordings() -> None:
    finalize.recordings_purge_expired()


# After finalizing: extraction, then the `call.ended` webhook (calls.postcall).


@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(Exception,),
    retry_backoff=2,
    retry_backoff_max=240,
    max_retries=5,
)
def process_ended_call(call_id: int) -> None:
    start = postcall.process_ended_call(call_id=call_id)
    if start is not None:
        deliver_call_ended.delay(call_id, str(start[0]), 1, start[1].isoformat())


@shared_task(acks_late=True, reject_on_worker_lost=True)
def deliver_call_ended(
    call_id: int, delivery_id: str, attempt: int, window_start: str, manual: bool = False
) -> None:
    """One attempt; a failure that may pass is tried again later, within the retry window
    that began at `window_start` (the event, or a re-send by hand)."""
    retry_at = postcall.deliver(
        call_id=call_id,
        delivery_id=delivery_id,
        attempt=attempt,
        window_start=window_start,
        manual=manual,
    )
    if retry_at is not None:
        deliver_call_ended.apply_async(
            (call_id, delivery_id, attempt + 1, window_start, manual), eta=retry_at
        )


def resend_call_ended(*, call: Call) -> None:
    """A re-send by hand (Studio button, API): one attempt now, with a new retry window."""
    delivery_id, attempt, window_start = postcall.resend_start(call=call)
    deliver_call_ended.delay(call.pk, str(delivery_id), attempt, window_start.isoformat(), True)
