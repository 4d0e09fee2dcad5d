"""Celery task of agent tests: runs with the LLM brain wait on a model, so a worker does it."""

from celery import shared_task

from agents.testing.runner import run_execute


@shared_task(acks_late=True)
def run_agent_tests(run_id: int) -> None:
    run_execute(run_id=run_id)
