"""Access Portal: the Django project (settings, URLs, Celery, the API base) and the apps about
people and money (accounts, audit, workspaces, costs)."""

from .celery import app as celery_app

__all__ = ("celery_app",)
