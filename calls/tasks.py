"""Celery tasks of the calls app: thin wrappers around calls.recordings.finalize."""

import logging

from celery import shared_task

from calls.models import Call
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
