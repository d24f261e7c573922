"""Settings for Access Portal, read from environment variables (12-factor).

Every variable has a working default for a laptop (`make run`): SQLite under var/,
kombu's filesystem broker under var/ (no Redis), and generated keys kept in var/.
Production sets them explicitly (see docker-compose.yml and README.md).
"""

import os
import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("PORTAL_VAR_DIR", BASE_DIR / "var")).resolve()
VAR_DIR.mkdir(parents=True, exist_ok=True)


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name}={value!r} is not a boolean (use 1/0, true/false)")


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def _generated_secret(filename: str, make) -> str:
    """A secret kept in var/ so that a laptop run needs no configuration.

    Created once with O_EXCL, so the web server, worker and beat starting together
    agree on one value. Production sets the variable instead (check --deploy says so).
    """
    path = VAR_DIR / filename
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(make())
    return path.read_text().strip()


DEBUG = env_bool("DEBUG", False)
SECRET_KEY = os.environ.get("SECRET_KEY") or _generated_secret(
    "secret_key", lambda: secrets.token_urlsafe(50)
)
SECRET_KEY_FALLBACKS = env_list("SECRET_KEY_FALLBACKS")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")


def _fernet_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


# Keys that encrypt stored Model Studio keys and EAS tokens, newest first. Add a new
# key in front, run `manage.py rotate_secrets`, then drop the old one.
PORTAL_SECRET_KEYS = env_list("PORTAL_SECRET_KEYS") or [
    _generated_secret("portal_secret_keys", _fernet_key)
]
PORTAL_SECRET_KEYS_FROM_ENV = bool(env_list("PORTAL_SECRET_KEYS"))

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "template_partials",
    "django_celery_beat",
    "ninja",
    "csp",
    "axes",
    "portal",
    # People and money
    "portal.accounts",
    "portal.audit",
    "portal.workspaces",
    "portal.costs",
    # Reaching Model Studio
    "endpoints.network",
    "endpoints.probes",
    "endpoints.agents",
    "endpoints.status",
    "portal.alerts",
    # Development only: the simulator, the demo world, the benchmarks (no models)
    "endpoints.devtools",
]

MIDDLEWARE = [
    "portal.middleware.HealthCheckMiddleware",  # first: before host checks and HTTPS redirects
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "portal.middleware.ApiErrorsAsJsonMiddleware",  # inside the header middleware: keeps them
    "portal.middleware.RefuseUnsafeTextMiddleware",  # before anything reads a cookie or header
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "axes.middleware.AxesMiddleware",  # last: turns a locked-out sign-in into the lockout page
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"
ASGI_APPLICATION = "portal.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "portal.context_processors.navigation",
            ],
            "builtins": ["template_partials.templatetags.partials"],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'portal.sqlite3'}",
        conn_max_age=int(os.environ.get("DATABASE_CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        # The web server, worker and beat write concurrently: WAL lets readers go on
        # while one writes, IMMEDIATE takes the write lock up front instead of failing
        # mid-transaction with "database is locked".
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # A file, not memory: the Celery worker started by a test must see the test data.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: a locked-out sign-in never reaches a password
    "django.contrib.auth.backends.ModelBackend",
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATIC_ROOT.mkdir(exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG or not env_bool("PORTAL_STATIC_MANIFEST", True)
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# Security: secure by default outside DEBUG; a TLS-terminating proxy sets the header.
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "0" if DEBUG else "31536000"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEBUG)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
# No inline script or style anywhere (htmx, Bootstrap and Chart.js are static files, and
# portal.js sets what used to be inline); data: images are Bootstrap's and Swagger UI's icons.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# Failed sign-ins (the portal's and the admin's) are limited per user *and* address: after
# PORTAL_LOGIN_FAILURE_LIMIT failures of one username from one address, that pair is locked out
# for PORTAL_LOGIN_COOLOFF_MINUTES, with a page saying so (django-axes). The address is
# REMOTE_ADDR: behind a proxy every client shares it, and the limit is then per user.
AXES_FAILURE_LIMIT = int(os.environ.get("PORTAL_LOGIN_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = timedelta(minutes=int(os.environ.get("PORTAL_LOGIN_COOLOFF_MINUTES", "15")))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "portal.accounts.views.locked_out"
AXES_DISABLE_ACCESS_LOG = True  # successful sign-ins are not the lockout's business
SILENCED_SYSTEM_CHECKS = env_list("SILENCED_SYSTEM_CHECKS")

# Celery. The default broker is kombu's filesystem transport under var/broker, so a
# laptop needs no Redis; compose and CI use Redis through CELERY_BROKER_URL.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL") or "filesystem://"
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = VAR_DIR / "broker"
    for _sub in ("queue", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "store_processed": False,
        "control_folder": str(_broker_dir / "control"),
    }
# Probe batches go to the default queue; the dispatcher and the housekeeping tasks to a queue of
# their own, served by a worker of its own, so they never wait behind probes.
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("PORTAL_CELERY_QUEUE", "portal")
PORTAL_DISPATCH_QUEUE = os.environ.get(
    "PORTAL_DISPATCH_QUEUE", f"{CELERY_TASK_DEFAULT_QUEUE}-dispatch"
)
# Alert sends (one HTTP request or e-mail each, up to PORTAL_ALERT_TIMEOUT_S) go to a queue of
# their own with a worker of its own: behind probe batches an alert would wait, and on the
# dispatcher's single process a hanging receiver would hold up the dispatch.
PORTAL_ALERTS_QUEUE = os.environ.get("PORTAL_ALERTS_QUEUE", f"{CELERY_TASK_DEFAULT_QUEUE}-alerts")
CELERY_TASK_ROUTES = {"portal.alerts.tasks.send_notification": {"queue": PORTAL_ALERTS_QUEUE}}
CELERY_TASK_IGNORE_RESULT = True
# Keep Django's LOGGING (and its secret-redacting filter) in worker and beat processes.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
PORTAL_DISPATCH_EVERY_S = float(os.environ.get("PORTAL_DISPATCH_EVERY_S", "5"))
_dispatch = {"queue": PORTAL_DISPATCH_QUEUE}
CELERY_BEAT_SCHEDULE = {
    # One dispatcher leases due schedules and fans out probe batches.
    "enqueue-due-probes": {
        "task": "endpoints.probes.tasks.enqueue_due_probes",
        "schedule": PORTAL_DISPATCH_EVERY_S,
        "options": {**_dispatch, "expires": PORTAL_DISPATCH_EVERY_S * 2},
    },
    "watch-agents": {
        "task": "endpoints.agents.tasks.watch_agents",
        "schedule": 10.0,
        "options": {**_dispatch, "expires": 20},
    },
    "prune-probe-results": {
        "task": "endpoints.probes.tasks.prune_probe_results",
        "schedule": 600.0,
        "options": _dispatch,
    },
    # Status over time (endpoints/status, portal/alerts): housekeeping, on the dispatcher's queue.
    "roll-up-results": {
        "task": "endpoints.status.tasks.roll_up",
        "schedule": 600.0,
        "options": _dispatch,
    },
    "refresh-uptime": {
        "task": "endpoints.status.tasks.refresh_uptime",
        "schedule": float(os.environ.get("PORTAL_UPTIME_REFRESH_S", "300")),
        "options": _dispatch,
    },
    "watch-probing": {
        "task": "endpoints.status.tasks.watch_probing",
        "schedule": 60.0,
        "options": _dispatch,
    },
    "prune-history": {
        "task": "endpoints.status.tasks.prune_history",
        "schedule": 3600.0,
        "options": _dispatch,
    },
    "deliver-notifications": {
        "task": "portal.alerts.tasks.deliver_due",
        "schedule": float(os.environ.get("PORTAL_ALERT_SWEEP_S", "10")),
        "options": _dispatch,
    },
    "remind-open-incidents": {
        "task": "portal.alerts.tasks.remind_open_incidents",
        "schedule": 60.0,
        "options": _dispatch,
    },
    # Budget thresholds (80 %, 100 %, forecast): claimed once, sent to the alert channels.
    "check-budgets": {
        "task": "portal.costs.tasks.check_budgets",
        "schedule": float(os.environ.get("PORTAL_BUDGET_CHECK_EVERY_S", "600")),
        "options": _dispatch,
    },
}

# Probing. Unset, production may probe private, shared (100.64/10) and public
# networks but never loopback; tests and the demo set 127.0.0.0/8.
PORTAL_PROBE_ALLOWED_NETWORKS = env_list("PORTAL_PROBE_ALLOWED_NETWORKS")
# The resolver for endpoints registered without a VPC ("host" or "host:port"); empty: the
# machine's own resolver (which the egress guard checks like any other address).
PORTAL_PROBE_RESOLVER = os.environ.get("PORTAL_PROBE_RESOLVER", "").strip() or None
PORTAL_PROBE_BATCH_SIZE = int(os.environ.get("PORTAL_PROBE_BATCH_SIZE", "50"))
# Probes in flight per task: 50 keeps time-to-first-byte accurate to ~1.5 ms on 2 cores
# (docs/benchmarks.md) and still probes ~2,000 endpoints a second.
PORTAL_PROBE_CONCURRENCY = int(os.environ.get("PORTAL_PROBE_CONCURRENCY", "50"))
PORTAL_PROBE_TIMEOUT_S = float(os.environ.get("PORTAL_PROBE_TIMEOUT_S", "10"))
# A prober holds a schedule this long past its slot: longer than a probe's deadline plus a
# flush, so a live prober always answers in time; a dead one's schedules are due again then.
PORTAL_PROBE_LEASE_S = int(os.environ.get("PORTAL_PROBE_LEASE_S", "30"))
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    # An unacknowledged task comes back after this; the leases have run out by then, so a
    # redelivered batch finds nothing left to probe (and the dispatcher has re-leased it).
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": max(120, 4 * PORTAL_PROBE_LEASE_S)}
# Raw results are kept this long (a fixed plateau); hourly rollups and status changes far longer.
PORTAL_PROBE_RETENTION_HOURS = int(os.environ.get("PORTAL_PROBE_RETENTION_HOURS", "48"))
PORTAL_ROLLUP_RETENTION_DAYS = int(os.environ.get("PORTAL_ROLLUP_RETENTION_DAYS", "400"))

# Status over time: incidents, alerts and /metrics (README, "Status over time").
PORTAL_INCIDENT_FAILURE_THRESHOLD = int(os.environ.get("PORTAL_INCIDENT_FAILURE_THRESHOLD", "2"))
PORTAL_INCIDENT_SUCCESS_THRESHOLD = int(os.environ.get("PORTAL_INCIDENT_SUCCESS_THRESHOLD", "1"))
PORTAL_METRICS_TOKEN = os.environ.get("PORTAL_METRICS_TOKEN", "").strip() or None
PORTAL_ALERT_MAX_ATTEMPTS = int(os.environ.get("PORTAL_ALERT_MAX_ATTEMPTS", "8"))
PORTAL_ALERT_RETRY_BASE_S = float(os.environ.get("PORTAL_ALERT_RETRY_BASE_S", "30"))
PORTAL_ALERT_RETRY_MAX_S = float(os.environ.get("PORTAL_ALERT_RETRY_MAX_S", "3600"))
PORTAL_ALERT_TIMEOUT_S = float(os.environ.get("PORTAL_ALERT_TIMEOUT_S", "10"))
PORTAL_URL = os.environ.get("PORTAL_URL", "").rstrip("/")  # links in alerts; empty: none
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "access-portal@localhost")

# Costs: a workspace-month whose bill and metered estimate differ by this percentage of the
# bill (or more) is highlighted on the reconciliation page.
PORTAL_RECONCILE_THRESHOLD_PCT = os.environ.get("PORTAL_RECONCILE_THRESHOLD_PCT", "2")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "redact_secrets": {"()": "portal.logging.RedactSecretsFilter"},
        "quiet_forbidden": {"()": "portal.logging.QuietForbiddenFilter"},
    },
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["redact_secrets"],
        },
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # httpx logs each request's URL at INFO: an alert webhook's URL holds its token.
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
        "django.request": {"filters": ["quiet_forbidden"]},  # a 403: one line, no traceback
    },
}
