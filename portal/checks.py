"""System checks for production settings (`manage.py check --deploy`)."""

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register

from .crypto import is_valid_key


@register(Tags.security)
def check_secret_keys(app_configs, **kwargs):
    problems = []
    for index, key in enumerate(settings.PORTAL_SECRET_KEYS):
        if not is_valid_key(key):
            problems.append(
                Error(
                    f"PORTAL_SECRET_KEYS entry {index + 1} is not a Fernet key.",
                    hint='Generate one with: python -c "from cryptography.fernet import '
                    'Fernet; print(Fernet.generate_key().decode())"',
                    id="portal.E001",
                )
            )
    return problems


@register()
def check_probe_settings(app_configs, **kwargs):
    import ipaddress

    from endpoints.engine.hosts import parse_resolver

    problems = []
    for cidr in settings.PORTAL_PROBE_ALLOWED_NETWORKS:
        try:
            ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            problems.append(
                Error(
                    f"PORTAL_PROBE_ALLOWED_NETWORKS has '{cidr}', which is not a CIDR block.",
                    hint="Comma-separated CIDRs, e.g. 10.0.0.0/8,100.64.0.0/10",
                    id="portal.E002",
                )
            )
    if settings.PORTAL_PROBE_RESOLVER:
        try:
            parse_resolver(settings.PORTAL_PROBE_RESOLVER)
        except ValueError as exc:
            problems.append(Error(f"PORTAL_PROBE_RESOLVER: {exc}", id="portal.E003"))
    return problems


@register(Tags.security, deploy=True)
def check_deploy_secrets(app_configs, **kwargs):
    problems = []
    if not settings.PORTAL_SECRET_KEYS_FROM_ENV:
        problems.append(
            Warning(
                "PORTAL_SECRET_KEYS is not set; stored API keys are encrypted with a key "
                "generated under var/, which a new container would not have.",
                hint="Set PORTAL_SECRET_KEYS to one or more Fernet keys, newest first.",
                id="portal.W001",
            )
        )
    if str(settings.CELERY_BROKER_URL).startswith("filesystem://"):
        problems.append(
            Warning(
                "CELERY_BROKER_URL uses the embedded filesystem broker.",
                hint="Point CELERY_BROKER_URL at Redis in production (redis://host:6379/0).",
                id="portal.W002",
            )
        )
    if not settings.PORTAL_PROBE_ALLOWED_NETWORKS:
        problems.append(
            Warning(
                "PORTAL_PROBE_ALLOWED_NETWORKS is not set, so probes may connect to any private, "
                "shared or public address: the portal's own network (its database, Redis) too.",
                hint="Set it to your VPCs' CIDR blocks plus what public endpoints need (comma-"
                "separated, e.g. 10.1.0.0/16,10.2.0.0/16), leaving out the portal's own network.",
                id="portal.W004",
            )
        )
    if settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        problems.append(
            Warning(
                "DATABASE_URL is unset or SQLite.",
                hint="Production runs on PostgreSQL: DATABASE_URL=postgres://…",
                id="portal.W003",
            )
        )
    return problems
