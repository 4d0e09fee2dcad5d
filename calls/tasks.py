"""Celery tasks of the calls app: thin wrappers around calls.finalize."""

from celery import shared_task

from . import finalize
from .metrics import FINALIZE_OUTCOMES


@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(Exception,),
    retry_backoff=2,
    retry_backoff_max=300,
    max_retries=8,
)
def finalize_call(call_id: int) -> None:
    try:
        finalize.call_finalize(call_id=call_id)
    except Exception:
        FINALIZE_OUTCOMES.labels("error").inc()
        raise
    FINALIZE_OUTCOMES.labels("ok").inc()


@shared_task
def sweep_stale_calls() -> None:
    finalize.calls_sweep_stale()  # ending a call enqueues its finalize_call


@shared_task
def purge_expired_recordings() -> None:
    finalize.recordings_purge_expired()
