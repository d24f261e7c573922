"""The Content-Security-Policy in a real browser: every page, the API reference and the
Django admin load and work with no violation reported (Chromium logs each refused script,
style or eval to the console and fires a `securitypolicyviolation` event)."""

import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from endpoints.agents.services import add_agent
from endpoints.probes.models import ProbeResult, ProbeRun
from endpoints.status.models import Incident
from portal.alerts.models import Channel
from portal.alerts.services import save_channel
from tests.browser.test_browser import sign_in

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

WATCH = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__cspViolations.push(e.violatedDirective + " " + (e.blockedURI || "inline") + " " + (e.sourceFile || ""));
});
"""


@pytest.fixture
def watched(page):
    """The page, with every CSP violation (console message or event) collected."""
    console = []
    page.on(
        "console",
        lambda message: (
            console.append(message.text)
            if "Content Security Policy" in message.text
            or "Content-Security-Policy" in message.text
            else None
        ),
    )
    page.add_init_script(WATCH)

    def violations():
        events = page.evaluate("window.__cspViolations || []")
        return console + events

    page.violations = violations
    return page


@pytest.fixture
def world(admin, workspace_a, make_vpc, make_endpoint):
    vpc = make_vpc()
    endpoint = make_endpoint(vpc=vpc, workspace=workspace_a, allows_80_443=True, status="up")
    ProbeResult.objects.create(
        endpoint=endpoint,
        status="up",
        diagnosis="ok",
        message="ok",
        total_ms=100,
        resolve_ms=25,
        connect_ms=25,
        tls_ms=25,
        processing_ms=25,
    )
    run = ProbeRun.objects.create(total=4, done=1)
    incident = Incident.objects.create(
        endpoint=endpoint,
        location="central",
        status="down",
        diagnosis="tcp_timeout",
        message="No TCP answer",
        opened_at=timezone.now(),
    )
    channel = save_channel(
        Channel(name="on-call", kind="webhook"), actor=admin, target="http://127.0.0.1:9/hook"
    )
    add_agent(vpc, "agent-a", actor=admin)
    return {
        "endpoint": endpoint.pk,
        "vpc": vpc.pk,
        "run": run.pk,
        "incident": incident.pk,
        "channel": channel.pk,
    }


def test_pages_admin_and_api_reference_load_without_a_csp_violation(
    watched, live_server, admin, world
):
    page = watched
    sign_in(page, live_server, admin)
    paths = [
        "/probes/",
        f"/probes/?run={world['run']}",
        "/endpoints/",
        "/endpoints/new/",
        f"/endpoints/{world['endpoint']}/",
        f"/endpoints/{world['endpoint']}/edit/",
        "/vpcs/",
        f"/vpcs/{world['vpc']}/",
        "/workspaces/",
        "/workspaces/team-a/",
        "/workspaces/new/",
        "/workspaces/team-a/sla/",
        "/incidents/",
        f"/incidents/{world['incident']}/",
        "/maintenance/",
        "/alerts/",
        f"/alerts/{world['channel']}/",
        "/costs/",
        "/costs/workspaces/team-a/",
        "/costs/reconciliation/",
        "/costs/prices/",
        "/costs/prices/new/",
        "/costs/bills/",
        "/audit/",
        "/profile/",
        "/admin/",
        "/admin/network/endpoint/",
        f"/admin/network/endpoint/{world['endpoint']}/change/",
        "/admin/workspaces/workspace/add/",
        "/api/v1/docs",
    ]
    seen = {}
    for path in paths:
        page.goto(f"{live_server.url}{path}")
        page.wait_for_load_state("networkidle")
        found = page.violations()
        if found:
            seen[path] = found
    assert not seen, seen
    # The API reference really rendered (Swagger UI is a script bundle).
    expect(page.locator(".swagger-ui")).to_be_visible()
    expect(page.get_by_text("/api/v1/endpoints").first).to_be_visible()


def test_what_used_to_be_inline_still_works(watched, live_server, admin, world):
    page = watched
    sign_in(page, live_server, admin)
    # Phase bars: widths set by portal.js from data-width.
    page.goto(f"{live_server.url}/endpoints/{world['endpoint']}/")
    width = page.locator(".waterfall .ph-resolve").evaluate("e => e.style.width")
    assert width == "25%"
    # The status chart is drawn (Chart.js, a static file).
    page.goto(f"{live_server.url}/probes/")
    page.wait_for_function("document.querySelector('canvas[data-chart]')._chart !== undefined")
    # The filter form keeps the sort chosen by a column link (was hx-vals with js:).
    page.goto(f"{live_server.url}/endpoints/?sort=-name")
    with page.expect_response(re.compile(r"/endpoints/\?.*status=up")) as response:
        page.select_option("select[name=status]", "up")
    assert "sort=-name" in response.value.url
    # The cost page's workspace picker submits on change (was an inline onchange).
    page.goto(f"{live_server.url}/costs/")
    with page.expect_navigation(url=re.compile(r"workspace=team-a")):
        page.select_option("select[name=workspace]", "team-a")
    assert not page.violations(), page.violations()
