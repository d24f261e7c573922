"""A digest of the project's data, to prove a refused request stored nothing."""

import hashlib

from django.apps import apps

PROJECT_APPS = {"accounts", "audit", "workspaces", "costs", "network", "probes"}
IGNORED_FIELDS = {"accounts.ApiToken": {"last_used_at"}}  # touched by every API call


def database_state() -> str:
    """A digest of every row of the project's tables (the audit log included). Sessions and the
    login-attempt log (django-axes) are not the project's data and are left out."""
    digest = hashlib.sha256()
    for model in apps.get_models():
        meta = model._meta
        if meta.app_label not in PROJECT_APPS:
            continue
        skip = IGNORED_FIELDS.get(meta.label, set())
        fields = [f.attname for f in meta.concrete_fields if f.attname not in skip]
        for row in model.objects.order_by("pk").values_list(*fields):
            digest.update(repr((meta.label, row)).encode())
    return digest.hexdigest()
