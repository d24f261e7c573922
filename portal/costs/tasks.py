"""Celery tasks: thin wrappers that take ids and call the services."""

from celery import shared_task

from . import services


@shared_task(name="portal.costs.tasks.import_bill", ignore_result=True, acks_late=True)
def import_bill(import_id):
    """Import a confirmed bill (all or nothing), then see whether a budget was crossed."""
    services.run_bill_import(import_id)
    services.check_budgets()


@shared_task(name="portal.costs.tasks.check_budgets", ignore_result=True)
def check_budgets():
    """Claim and send the budget alerts that are due (see services.check_budgets)."""
    return services.check_budgets()
