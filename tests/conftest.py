"""Shared fixtures: personas, factories, a real Celery worker, Chromium for Playwright.

Everything runs for real on loopback: the database (SQLite file or PostgreSQL), the
broker (filesystem or Redis), worker processes, the Model Studio simulator.
"""

import os
import secrets
import subprocess
import sys
import time
import uuid
import zlib
from pathlib import Path

import pytest

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # live_server + sync Playwright
os.environ["PORTAL_PROBE_ALLOWED_NETWORKS"] = "127.0.0.0/8"  # tests probe loopback only

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "correct-horse-battery-staple"


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture(autouse=True)
def _test_settings(request):
    if not request.config.pluginmanager.hasplugin("django"):
        return  # the engine's tests run without Django (make test: pytest -p no:django)
    settings = request.getfixturevalue("settings")
    # Probes in tests reach loopback only (the environment above covers worker subprocesses).
    settings.PORTAL_PROBE_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    # Personas' passwords: the default hasher spends ~0.2 s on each, several per test.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Tests run with DEBUG off but without collectstatic: serve static files from the finders.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


def random_key() -> str:
    return "sk-" + secrets.token_hex(16)


# -- personas ----------------------------------------------------------------------------------


@pytest.fixture
def make_user(db):
    from portal.accounts.models import User

    def make(username, role, workspaces=()):
        user = User.objects.create_user(username=username, password=PASSWORD, role=role)
        for ws in workspaces:
            ws.memberships.create(user=user, is_lead=True)
        return user

    return make


@pytest.fixture
def admin(make_user):
    return make_user("alice-admin", "admin")


@pytest.fixture
def ops(make_user):
    return make_user("oscar-ops", "ops")


@pytest.fixture
def workspace_a(make_workspace):
    return make_workspace("team-a", region="cn-beijing", models=["qwen-plus"])


@pytest.fixture
def workspace_b(make_workspace):
    return make_workspace("team-b", region="ap-southeast-1", models=["qwen-plus"])


@pytest.fixture
def lead_a(make_user, workspace_a):
    return make_user("lena-lead-a", "lead", [workspace_a])


@pytest.fixture
def lead_b(make_user, workspace_b):
    return make_user("leo-lead-b", "lead", [workspace_b])


@pytest.fixture
def client_for(client):
    """A test client signed in as `user` (None: anonymous)."""

    def sign_in(user):
        client.logout()
        if user is not None:
            client.force_login(user)
        return client

    return sign_in


@pytest.fixture
def api_client(client):
    """(client, headers) for the JSON API with a fresh token of `user`."""
    from portal.accounts.models import ApiToken

    class Api:
        def __init__(self, user=None):
            self.headers = {}
            if user is not None:
                _, token = ApiToken.issue(user, "tests")
                self.headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"}

        def get(self, path, **params):
            return client.get(path, params, **self.headers)

        def post(self, path, data):
            return client.post(path, data, content_type="application/json", **self.headers)

        def put(self, path, data):
            return client.put(path, data, content_type="application/json", **self.headers)

        def patch(self, path, data):
            return client.patch(path, data, content_type="application/json", **self.headers)

        def delete(self, path):
            return client.delete(path, **self.headers)

    return Api


# -- factories ---------------------------------------------------------------------------------


@pytest.fixture
def make_workspace(db):
    from portal.workspaces.models import ApiKey, CatalogModel, ModelGrant, Region, Workspace

    def make(slug, region="cn-beijing", default=False, models=(), key=True, workspace_id=None):
        region_obj = Region.objects.get(pk=region)
        ws = Workspace.objects.create(
            slug=slug,
            name=slug.replace("-", " ").title(),
            workspace_id=workspace_id or f"llm-{slug.replace('-', '')}{secrets.token_hex(3)}",
            region=region_obj,
            scope=region_obj.scopes[0],
            is_default=default,
            currency=region_obj.currency,
        )
        for name in models:
            ModelGrant.objects.create(workspace=ws, model=CatalogModel.objects.get(name=name))
        if key:
            api_key = ApiKey(workspace=ws, label=f"{slug} key")
            ws.plain_key = random_key()
            api_key.set_secret(ws.plain_key)
            api_key.save()
        return ws

    return make


@pytest.fixture
def make_vpc(db):
    from endpoints.network.models import Vpc

    def make(
        vpc_id="vpc-bjtest01",
        region="cn-beijing",
        cidr=None,
        resolver="127.0.0.1:53",
        overrides=None,
    ):
        return Vpc.objects.create(
            vpc_id=vpc_id,
            name=vpc_id,
            region_id=region,
            # A CIDR of the VPC's own, the same in every run (hash() of a str is randomized).
            cidr=cidr or f"10.{zlib.crc32(vpc_id.encode()) % 250}.0.0/16",
            resolver=resolver,
            host_overrides=overrides or {},
        )

    return make


@pytest.fixture
def make_endpoint(db):
    from endpoints.network.models import Endpoint

    def make(
        name="ep", url="http://ep-abc123.dashscope.cn-beijing.privatelink.aliyuncs.com", **fields
    ):
        fields.setdefault("kind", "privatelink_default")
        fields.setdefault("region_id", "cn-beijing")
        fields.setdefault("zones", ["cn-beijing-a", "cn-beijing-b"])
        endpoint = Endpoint(name=name, url=url, **fields)
        endpoint.save()
        from endpoints.probes import schedules

        schedules.sync([endpoint.pk], reprobe=False)  # as the services' signal would
        return endpoint

    return make


@pytest.fixture
def many_endpoints(workspace_a, make_vpc):
    """make(count, start=0): bulk-create endpoints of workspace A with mixed statuses."""
    from django.utils import timezone

    from endpoints.network.models import Endpoint

    vpc = make_vpc()

    def make(count, start=0):
        rows = [
            Endpoint(
                name=f"endpoint {n:04d}",
                kind="privatelink_default",
                url=f"http://ep-many{n:04d}.dashscope.cn-beijing.privatelink.aliyuncs.com",
                host=f"ep-many{n:04d}.dashscope.cn-beijing.privatelink.aliyuncs.com",
                region_id="cn-beijing",
                vpc=vpc,
                workspace=workspace_a,
                zones=["cn-beijing-a", "cn-beijing-b"],
                status=["up", "down", "degraded"][n % 3],
                diagnosis=["ok", "tcp_timeout", "slow"][n % 3],
                status_message="something happened",
                last_total_ms=float(n),
                last_probe_at=timezone.now(),
            )
            for n in range(start, start + count)
        ]
        created = Endpoint.objects.bulk_create(rows)
        from endpoints.probes import schedules

        schedules.sync([e.pk for e in created], reprobe=False)

    return make


@pytest.fixture
def broker_down(monkeypatch):
    """Point Celery at a closed loopback port (no broker answers), then restore it."""
    from portal.celery import app

    dead = "redis://127.0.0.1:1/0"
    monkeypatch.setenv("CELERY_BROKER_URL", dead)  # Celery prefers the environment to its config
    keys = (
        "broker_url",
        "broker_connection_retry",
        "broker_connection_max_retries",
        "task_publish_retry",
    )
    saved = {key: app.conf[key] for key in keys}
    app.conf.update(
        broker_url=dead,
        broker_connection_retry=False,
        broker_connection_max_retries=0,
        task_publish_retry=False,
    )
    app._pool = app.amqp._producer_pool = None  # both cache the connection's URL
    yield
    monkeypatch.undo()
    app.conf.update(saved)
    app._pool = app.amqp._producer_pool = None


# -- a real Celery worker ----------------------------------------------------------------------


def subprocess_env() -> dict:
    """The environment for a worker/beat subprocess: the *test* database, same broker."""
    from django.conf import settings
    from django.db import connection

    env = dict(os.environ)
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        env["DATABASE_URL"] = f"sqlite:///{db['NAME']}"
    else:
        env["DATABASE_URL"] = (
            f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
        )
    env["PORTAL_CELERY_QUEUE"] = settings.CELERY_TASK_DEFAULT_QUEUE
    env["PYTHONPATH"] = str(ROOT)
    return env


@pytest.fixture
def celery_queue(settings):
    """A queue of this test's own, so a `make run` beside the tests can't take its tasks."""
    from portal.celery import app

    queue = f"test-{uuid.uuid4().hex[:8]}"
    settings.CELERY_TASK_DEFAULT_QUEUE = queue
    settings.PORTAL_DISPATCH_QUEUE = f"{queue}-dispatch"
    settings.PORTAL_ALERTS_QUEUE = f"{queue}-alerts"
    previous = app.conf.task_default_queue
    app.conf.task_default_queue = queue
    yield queue
    app.conf.task_default_queue = previous


def start_process(args, env, log_path):
    log = open(log_path, "w")  # noqa: SIM115 - closed by stop_process
    process = subprocess.Popen(args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    process.log = log
    process.log_path = log_path
    return process


def stop_process(process):
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    process.log.close()


@pytest.fixture
def celery_worker_process(celery_queue, tmp_path, transactional_db):
    """Start `celery worker` as a real process on the test database and broker."""
    env = subprocess_env()
    processes = []

    def start(beat=False, env_extra=None, queues=None):
        """A worker on `queues` (default: the probe, dispatch and alerts queues), and beat."""
        process_env = {**env, **(env_extra or {})}
        worker = start_process(
            [
                sys.executable,
                "-m",
                "celery",
                "--app",
                "portal",
                "worker",
                "--pool",
                "solo",
                "--loglevel",
                "INFO",
                "--queues",
                queues or f"{celery_queue},{celery_queue}-dispatch,{celery_queue}-alerts",
                "--hostname",
                f"{celery_queue}-{len(processes)}@%h",
                "--without-heartbeat",
                "--without-gossip",
                "--without-mingle",
            ],
            process_env,
            tmp_path / ("worker.log" if not processes else f"worker-{len(processes)}.log"),
        )
        processes.append(worker)
        if beat:
            beat_process = start_process(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "--app",
                    "portal",
                    "beat",
                    "--loglevel",
                    "INFO",
                    "--schedule",
                    str(tmp_path / "beat-schedule"),
                ],
                {**process_env, "PORTAL_DISPATCH_EVERY_S": "1"},
                tmp_path / "beat.log",
            )
            processes.append(beat_process)
        return processes

    yield start
    for process in processes:
        stop_process(process)


def wait_for(predicate, timeout=30.0, interval=0.2, message="condition", logs=()):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    details = "\n".join(
        f"--- {p}:\n{Path(p).read_text()[-3000:]}" for p in logs if Path(p).exists()
    )
    raise AssertionError(f"Timed out after {timeout:g} s waiting for {message}.\n{details}")
