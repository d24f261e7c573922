"""Settings for Access Portal, read from environment variables (12-factor).

Every variable has a working default for a laptop (`make run`): SQLite under var/,
kombu's filesystem broker under var/ (no Redis), and generated keys kept in var/.
Production sets them explicitly (see docker-compose.yml and README.md).
"""

import os
import secrets
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
    "portal",
    # People and money
    "portal.accounts",
    "portal.audit",
    "portal.workspaces",
    "portal.costs",
    # Reaching Model Studio
    "endpoints.network",
    "endpoints.probes",
    # Development only: the simulator, the demo world, the benchmarks (no models)
    "endpoints.devtools",
]

MIDDLEWARE = [
    "portal.middleware.HealthCheckMiddleware",  # first: before host checks and HTTPS redirects
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
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
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("PORTAL_CELERY_QUEUE", "portal")
CELERY_TASK_IGNORE_RESULT = True
# Keep Django's LOGGING (and its secret-redacting filter) in worker and beat processes.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# A scheduled probe batch still queued after this long is dropped: by then its endpoints are
# due again, and an outage must not pile up a queue of stale work.
PORTAL_PROBE_TASK_EXPIRES_S = int(os.environ.get("PORTAL_PROBE_TASK_EXPIRES_S", "120"))
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BEAT_SCHEDULE = {
    # One dispatcher claims due endpoints and fans out probe batches.
    "enqueue-due-probes": {
        "task": "endpoints.probes.tasks.enqueue_due_probes",
        "schedule": float(os.environ.get("PORTAL_DISPATCH_EVERY_S", "5")),
    },
    "prune-probe-results": {
        "task": "endpoints.probes.tasks.prune_probe_results",
        "schedule": 3600.0,
    },
    # Budget thresholds (80 %, 100 %, forecast): claimed once, sent to the alert channels.
    "check-budgets": {
        "task": "portal.costs.tasks.check_budgets",
        "schedule": float(os.environ.get("PORTAL_BUDGET_CHECK_EVERY_S", "600")),
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
PORTAL_PROBE_RETENTION_DAYS = int(os.environ.get("PORTAL_PROBE_RETENTION_DAYS", "14"))

# Costs: a workspace-month whose bill and metered estimate differ by this percentage of the
# bill (or more) is highlighted on the reconciliation page.
PORTAL_RECONCILE_THRESHOLD_PCT = os.environ.get("PORTAL_RECONCILE_THRESHOLD_PCT", "2")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact_secrets": {"()": "portal.logging.RedactSecretsFilter"}},
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
    },
}
