"""Access Portal: the Django project and its core app (users, roles, tokens, audit)."""

from .celery import app as celery_app

__all__ = ("celery_app",)
