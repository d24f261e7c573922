"""Production set-up: docker-compose.yml against the settings, and check --deploy.

No container engine runs here, so the compose file is parsed and each service's
command and variables are checked against what portal/settings.py reads.
"""

import os
import re
import subprocess
import sys

import pytest
import yaml
from cryptography.fernet import Fernet

from tests.conftest import ROOT

COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SETTINGS_SOURCE = (ROOT / "portal" / "settings.py").read_text()
SETTINGS_VARIABLES = set(
    re.findall(r'(?:env_bool|env_list|os\.environ\.get)\("([A-Z_]+)"', SETTINGS_SOURCE)
)


def service(name):
    return COMPOSE["services"][name]


def command(name) -> str:
    value = service(name)["command"]
    return value if isinstance(value, str) else " ".join(value)


def test_compose_has_its_services():
    assert set(COMPOSE["services"]) == {
        "web",
        "worker",
        "dispatcher",
        "alerts",
        "beat",
        "postgres",
        "redis",
    }


def test_the_dispatcher_has_a_queue_and_a_worker_of_its_own():
    """Behind probe batches the dispatch would run late: it gets its own queue and worker."""
    assert "--queues portal-dispatch" in command("dispatcher")
    assert "--queues portal " in command("worker") + " "
    assert "portal-dispatch" not in command("worker")


PROCFILE = dict(
    line.split(": ", 1)
    for line in (ROOT / "Procfile.dev").read_text().splitlines()
    if line.strip() and not line.startswith("#")
)


def queues_of(commands) -> dict[str, set[str]]:
    """Each worker command's --queues, by process name."""
    found = {}
    for name, text in commands.items():
        match = re.search(r"\bworker\b.*--queues[ =](\S+)", text)
        if match:
            found[name] = set(match.group(1).split(","))
    return found


def routed_queues() -> set[str]:
    """Every queue a task can land on, as the settings read with no queue variable set."""
    from django.conf import settings

    default = settings.CELERY_TASK_DEFAULT_QUEUE
    queues = {default}
    queues |= {
        e.get("options", {}).get("queue", default) for e in settings.CELERY_BEAT_SCHEDULE.values()
    }
    queues |= {route["queue"] for route in settings.CELERY_TASK_ROUTES.values()}
    return {q.replace(default, "portal", 1) for q in queues}


@pytest.mark.parametrize(
    "where, commands",
    [
        (
            "docker-compose.yml",
            {name: command(name) for name in COMPOSE["services"] if "command" in service(name)},
        ),
        ("Procfile.dev", PROCFILE),
    ],
)
def test_every_queue_a_task_goes_to_has_a_worker(where, commands):
    """A task routed to a queue nobody consumes is never run: worse than a slow queue."""
    consumed = set().union(*queues_of(commands).values())
    assert routed_queues() <= consumed, f"{where}: nobody consumes {routed_queues() - consumed}"
    assert "portal-alerts" in routed_queues()


@pytest.mark.parametrize("commands", [{n: command(n) for n in ("alerts",)}, PROCFILE])
def test_alert_sends_have_a_worker_of_their_own(commands):
    """Behind probe batches an alert waits; on the dispatcher's one process a hanging receiver
    would hold up the dispatch. The alerts worker serves the alerts queue only."""
    from django.conf import settings

    route = settings.CELERY_TASK_ROUTES["portal.alerts.tasks.send_notification"]
    assert route["queue"] == settings.PORTAL_ALERTS_QUEUE
    assert queues_of(commands)["alerts"] == {"portal-alerts"}
    others = [q for name, q in queues_of(commands).items() if name != "alerts"]
    assert all("portal-alerts" not in q for q in others)


def test_periodic_tasks_never_land_on_the_probe_queue():
    """Housekeeping (check-budgets too) runs on the dispatcher's queue, never behind probes."""
    from django.conf import settings

    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        assert entry.get("options", {}).get("queue") == settings.PORTAL_DISPATCH_QUEUE, name


def test_web_migrates_then_serves_with_gunicorn_and_is_health_checked():
    assert "manage.py migrate" in command("web") and "gunicorn portal.wsgi" in command("web")
    assert "/healthz" in " ".join(service("web")["healthcheck"]["test"])
    assert service("web")["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert service("web")["depends_on"]["redis"]["condition"] == "service_healthy"


def test_worker_and_exactly_one_beat_run_the_portal_app():
    assert command("worker").startswith("celery --app portal worker")
    assert command("beat").startswith("celery --app portal beat")
    assert (
        sum("beat" in command(name) for name in COMPOSE["services"] if "command" in service(name))
        == 1
    )
    assert "deploy" not in service("beat") or service("beat")["deploy"].get("replicas", 1) == 1


@pytest.mark.parametrize("name", ["web", "worker", "dispatcher", "alerts", "beat"])
def test_app_services_set_every_production_variable_the_settings_read(name):
    env = service(name)["environment"]
    for variable in [
        "DATABASE_URL",
        "CELERY_BROKER_URL",
        "SECRET_KEY",
        "PORTAL_SECRET_KEYS",
        "ALLOWED_HOSTS",
        "DEBUG",
    ]:
        assert variable in env, f"{name} lacks {variable}"
    assert env["DEBUG"] == "0"
    assert (
        env["DATABASE_URL"].startswith("postgres://") and "@postgres:5432/" in env["DATABASE_URL"]
    )
    assert env["CELERY_BROKER_URL"].startswith("redis://redis:6379")
    unknown = set(env) - SETTINGS_VARIABLES - {"DATABASE_URL", "CELERY_BROKER_URL", "SECRET_KEY"}
    assert not unknown, f"compose sets variables the settings never read: {unknown}"


def test_the_secrets_must_be_given_not_defaulted():
    env = service("web")["environment"]
    for variable in ["SECRET_KEY", "PORTAL_SECRET_KEYS"]:
        assert ":?" in env[variable], f"{variable} should fail loudly when unset"


def test_backing_services_are_health_checked_and_keep_their_data():
    assert "pg_isready" in " ".join(service("postgres")["healthcheck"]["test"])
    assert "ping" in " ".join(service("redis")["healthcheck"]["test"])
    assert any(v.startswith("pgdata:") for v in service("postgres")["volumes"])
    assert "pgdata" in COMPOSE["volumes"]


def test_compose_validates_with_docker_compose_when_available():
    binary = "/usr/bin/docker-compose"
    if not os.path.exists(binary):
        pytest.skip("docker-compose (v1) is not installed; the parse above still ran")
    env = {**os.environ, "POSTGRES_PASSWORD": "x", "SECRET_KEY": "y", "PORTAL_SECRET_KEYS": "z"}
    result = subprocess.run(
        [binary, "-f", str(ROOT / "docker-compose.yml"), "config", "-q"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_check_deploy_is_clean_with_production_variables(tmp_path):
    env = {
        **{k: v for k, v in os.environ.items() if k not in {"DEBUG", "DJANGO_ALLOW_ASYNC_UNSAFE"}},
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "DEBUG": "0",
        "SECRET_KEY": "x" * 20 + "-production-secret-key-with-enough-entropy-0123456789",
        "PORTAL_SECRET_KEYS": Fernet.generate_key().decode(),
        "ALLOWED_HOSTS": "portal.example.com",
        "DATABASE_URL": "postgres://portal:pw@127.0.0.1:5432/portal",
        "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0",
        "SECURE_SSL_REDIRECT": "1",
        "PORTAL_VAR_DIR": str(tmp_path),
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_warns_about_the_embedded_defaults(tmp_path):
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "CELERY_BROKER_URL", "PORTAL_SECRET_KEYS"}
    }
    env.update({"DJANGO_SETTINGS_MODULE": "portal.settings", "PORTAL_VAR_DIR": str(tmp_path)})
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    output = result.stdout + result.stderr
    for check_id in ["portal.W001", "portal.W002", "portal.W003"]:
        assert check_id in output


def test_a_bad_encryption_key_is_an_error(tmp_path):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "PORTAL_SECRET_KEYS": "not-a-key",
        "PORTAL_VAR_DIR": str(tmp_path),
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0 and "portal.E001" in result.stdout + result.stderr


def test_the_embedded_defaults_need_no_server(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CELERY_BROKER_URL"}}
    env.update({"DJANGO_SETTINGS_MODULE": "portal.settings", "PORTAL_VAR_DIR": str(tmp_path)})
    code = (
        "from django.conf import settings as s;"
        "print(s.DATABASES['default']['ENGINE'], s.CELERY_BROKER_URL, s.DEBUG, len(s.PORTAL_SECRET_KEYS))"
    )
    result = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.split() == ["django.db.backends.sqlite3", "filesystem://", "False", "1"]
    assert (tmp_path / "broker" / "queue").is_dir()


def test_the_health_check_answers_whatever_the_host_and_scheme(client, db, settings):
    # As compose calls it: by IP, over plain HTTP, with production host and HTTPS settings.
    settings.ALLOWED_HOSTS = ["portal.example.com"]
    settings.SECURE_SSL_REDIRECT = True
    response = client.get("/healthz", HTTP_HOST="127.0.0.1:8000")
    assert response.status_code == 200 and response.content == b"ok"
    assert (
        client.get("/login/", HTTP_HOST="127.0.0.1:8000").status_code == 400
    )  # other pages still refuse


@pytest.mark.parametrize(
    ("variable", "value", "check_id"),
    [
        ("PORTAL_PROBE_ALLOWED_NETWORKS", "10.0.0.0/8,not-a-cidr", "portal.E002"),
        ("PORTAL_PROBE_RESOLVER", "dns.local", "portal.E003"),
    ],
)
def test_bad_probe_settings_fail_at_start_up(tmp_path, variable, value, check_id):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        variable: value,
        "PORTAL_VAR_DIR": str(tmp_path),
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0 and check_id in result.stdout + result.stderr


def test_celery_keeps_djangos_logging_and_its_secret_filter():
    from django.conf import settings

    assert settings.CELERY_WORKER_HIJACK_ROOT_LOGGER is False
