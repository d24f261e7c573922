"""The watch on agent-probed VPCs (on the dispatcher's queue, every few seconds)."""

from celery import shared_task

from . import services


@shared_task(name="endpoints.agents.tasks.watch_agents", ignore_result=True)
def watch_agents():
    """Mark VPCs whose agents all fell silent (their endpoints turn unknown, `no_agent`)."""
    return len(services.watch_vpcs())
