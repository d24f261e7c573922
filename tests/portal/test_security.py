"""Security headers, the Content-Security-Policy, the sign-in rate limit, the deploy check of
the probes' reach, and how a 403 is logged."""

import logging
import os
import subprocess
import sys
from datetime import timedelta
from html.parser import HTMLParser

import pytest
from axes.models import AccessAttempt
from cryptography.fernet import Fernet
from django.utils import timezone

from tests.conftest import PASSWORD, ROOT

# -- headers and the Content-Security-Policy ---------------------------------------------------


def csp_directives(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    directives = {}
    for part in header.split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


@pytest.mark.parametrize(
    "path", ["/login/", "/endpoints/", "/api/v1/me", "/api/v1/docs", "/admin/"]
)
def test_every_answer_carries_the_security_headers(client_for, admin, path):
    response = client_for(admin).get(path)
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    csp = csp_directives(response)
    assert csp["default-src"] == ["'self'"]
    assert csp["script-src"] == ["'self'"] and csp["style-src"] == ["'self'"]
    assert csp["frame-ancestors"] == ["'none'"] and csp["object-src"] == ["'none'"]
    assert "'unsafe-inline'" not in response["Content-Security-Policy"]
    assert "'unsafe-eval'" not in response["Content-Security-Policy"]


class InlineFinder(HTMLParser):
    """Whatever a CSP without 'unsafe-inline' would refuse: inline scripts, style elements and
    attributes, event handler attributes, and htmx's `js:` values (which need eval)."""

    def __init__(self):
        super().__init__()
        self.found = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        data_only = attributes.get("type") in ("application/json", "application/ld+json")
        if tag == "script" and "src" not in attributes and not data_only:
            self.found.append(f"<script> without src: {attrs}")
        if tag == "style":
            self.found.append("<style> element")
        for name, value in attrs:
            if name == "style":
                self.found.append(f"style attribute on <{tag}>: {value}")
            elif name.startswith("on") or name.startswith("hx-on"):
                self.found.append(f"{name} handler on <{tag}>")
            elif name.startswith("hx-") and (value or "").lstrip().startswith(
                ("js:", "javascript:")
            ):
                self.found.append(f"{name}={value} needs eval")


def inline_code(html: str) -> list[str]:
    finder = InlineFinder()
    finder.feed(html)
    return finder.found


def test_no_template_has_inline_script_or_style():
    problems = {}
    for path in (ROOT / "templates").rglob("*.html"):
        found = inline_code(path.read_text())
        if found:
            problems[str(path.relative_to(ROOT))] = found
    assert not problems, problems


@pytest.fixture
def pages_world(admin, ops, workspace_a, make_vpc, make_endpoint):
    from endpoints.probes.models import ProbeResult, ProbeRun

    vpc = make_vpc()
    endpoint = make_endpoint(vpc=vpc, workspace=workspace_a, allows_80_443=True)
    ProbeResult.objects.create(  # the detail page draws its phase bars
        endpoint=endpoint, status="up", diagnosis="ok", message="ok", total_ms=120, resolve_ms=10
    )
    run = ProbeRun.objects.create(total=2, done=1)
    return {"endpoint": endpoint.pk, "vpc": vpc.pk, "run": run.pk}


def test_rendered_pages_have_no_inline_script_or_style(client_for, admin, pages_world):
    client = client_for(admin)
    paths = [
        "/endpoints/",
        "/endpoints/new/",
        "/endpoints/new/?kind=privatelink_default",
        f"/endpoints/{pages_world['endpoint']}/",
        f"/endpoints/{pages_world['endpoint']}/edit/",
        "/vpcs/",
        f"/vpcs/{pages_world['vpc']}/",
        "/probes/",
        f"/probes/runs/{pages_world['run']}/",
        "/workspaces/",
        "/workspaces/team-a/",
        "/workspaces/new/",
        "/costs/",
        "/audit/",
        "/profile/",
        "/api/v1/docs",
        "/admin/",
        "/admin/network/endpoint/",
        f"/admin/network/endpoint/{pages_world['endpoint']}/change/",
        "/nothing-here/",
    ]
    problems = {}
    for path in paths:
        response = client.get(path)
        assert response.status_code in (200, 404), (path, response.status_code)
        found = inline_code(response.content.decode())
        if found:
            problems[path] = found
    assert not problems, problems


def test_htmx_is_told_not_to_inject_styles_or_evaluate_code(client_for, admin):
    html = client_for(admin).get("/endpoints/").content.decode()
    assert '"includeIndicatorStyles": false' in html and '"allowEval": false' in html


# -- the sign-in rate limit -------------------------------------------------------------------


def sign_in(client, username, password, address="10.0.0.1", path="/login/"):
    return client.post(path, {"username": username, "password": password}, REMOTE_ADDR=address)


def test_failed_sign_ins_lock_that_user_from_that_address(client, admin, ops, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        response = sign_in(client, admin.username, "wrong")
        assert response.status_code == 200
        assert "correct username and password" in response.content.decode()
    response = sign_in(client, admin.username, "wrong")  # the limit reached
    assert response.status_code == 429
    # Locked, with the reason and what to do, even with the right password now.
    response = sign_in(client, admin.username, PASSWORD)
    assert response.status_code == 429
    html = response.content.decode()
    assert "Too many failed sign-ins" in html
    assert f"failed {settings.AXES_FAILURE_LIMIT} times from your address" in html
    assert "for 15 minutes" in html and "axes_reset_username alice-admin" in html
    assert "_auth_user_id" not in client.session
    # Per user and address: the same user elsewhere, and another user here, still sign in.
    assert sign_in(client, admin.username, PASSWORD, address="10.0.0.2").status_code == 302
    client.logout()
    assert sign_in(client, ops.username, PASSWORD).status_code == 302


def test_the_lock_ends_after_the_cool_off(client, admin, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        sign_in(client, admin.username, "wrong")
    assert sign_in(client, admin.username, PASSWORD).status_code == 429
    AccessAttempt.objects.update(
        attempt_time=timezone.now() - settings.AXES_COOLOFF_TIME - timedelta(seconds=1)
    )
    assert sign_in(client, admin.username, PASSWORD).status_code == 302


def test_a_successful_sign_in_resets_the_count(client, admin, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        sign_in(client, admin.username, "wrong")
    assert sign_in(client, admin.username, PASSWORD).status_code == 302
    client.logout()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert sign_in(client, admin.username, "wrong").status_code == 200


def test_the_admin_sign_in_is_limited_too(client, admin, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        sign_in(client, admin.username, "wrong", path="/admin/login/")
    response = sign_in(client, admin.username, PASSWORD, path="/admin/login/")
    assert response.status_code == 429 and "Too many failed sign-ins" in response.content.decode()


# -- check --deploy ------------------------------------------------------------------------------


def deploy_check(tmp_path, **variables):
    env = {
        **{
            k: v
            for k, v in os.environ.items()
            if k not in {"DEBUG", "DJANGO_ALLOW_ASYNC_UNSAFE", "PORTAL_PROBE_ALLOWED_NETWORKS"}
        },
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "DEBUG": "0",
        "SECRET_KEY": "x" * 20 + "-production-secret-key-with-enough-entropy-0123456789",
        "PORTAL_SECRET_KEYS": Fernet.generate_key().decode(),
        "ALLOWED_HOSTS": "portal.example.com",
        "DATABASE_URL": "postgres://portal:pw@127.0.0.1:5432/portal",
        "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0",
        "SECURE_SSL_REDIRECT": "1",
        "PORTAL_VAR_DIR": str(tmp_path),
        **variables,
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stdout + result.stderr


def test_check_deploy_warns_when_the_probes_may_reach_the_portals_own_network(tmp_path):
    output = deploy_check(tmp_path)
    assert "portal.W004" in output and "PORTAL_PROBE_ALLOWED_NETWORKS is not set" in output
    assert "portal.W004" not in deploy_check(tmp_path, PORTAL_PROBE_ALLOWED_NETWORKS="10.1.0.0/16")


# -- logging -------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/endpoints/new/", "/api/v1/vpcs"])
def test_a_403_is_logged_once_without_a_traceback(client_for, api_client, lead_a, caplog, path):
    caplog.set_level(logging.INFO, logger="django.request")
    if path.startswith("/api/"):
        response = api_client(lead_a).get(path)
    else:
        response = client_for(lead_a).get(path)
    assert response.status_code == 403
    records = [r for r in caplog.records if r.name == "django.request"]
    assert len(records) == 1, [r.getMessage() for r in records]
    assert records[0].getMessage().startswith("Forbidden")
    assert records[0].exc_info is None and not records[0].exc_text


def test_a_csrf_failure_is_a_page_of_the_portal_without_inline_style(admin, ops):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(ops)
    response = client.post("/profile/tokens/", {"name": "ci"})
    assert response.status_code == 403
    html = response.content.decode()
    assert "This form can no longer be sent" in html and not inline_code(html)
