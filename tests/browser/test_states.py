"""Empty, loading and error states, labels and the keyboard, in Chromium.

- With nothing in it yet, every page says so (no bare table of headers) and offers the next
  step where there is one.
- Every form control of every page has a label a screen reader announces.
- A request that fails (the server answers 500, or does not answer at all) says so on the
  page, once, and the message goes when the next request succeeds; a button shows that its
  request is under way.
- The main flows work from the keyboard alone.
"""

import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from endpoints.status.models import Incident
from tests.browser.test_browser import sign_in
from tests.conftest import PASSWORD

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

# Pages an admin sees, before anything is registered (besides one workspace and its lead).
EMPTY_PAGES = [
    "/probes/",
    "/endpoints/",
    "/vpcs/",
    "/incidents/",
    "/incidents/?show=all",
    "/maintenance/",
    "/alerts/",
    "/workspaces/",
    "/workspaces/team-a/",
    "/workspaces/team-a/sla/",
    "/costs/",
    "/costs/workspaces/team-a/",
    "/costs/reconciliation/",
    "/costs/bills/",
    "/audit/?action=delete",
    "/profile/",
]
BARE_TABLES = """() => [...document.querySelectorAll('main table')]
  .filter(t => t.tHead && t.tBodies.length && [...t.tBodies].every(b => b.rows.length === 0))
  .map(t => (t.closest('.card')?.querySelector('.card-header')?.innerText || t.outerHTML.slice(0, 80)))"""
UNLABELLED = """() => [...document.querySelectorAll('input, select, textarea')]
  .filter(el => el.type !== 'hidden' && el.offsetParent !== null)
  .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                && !el.getAttribute('aria-labelledby') && !el.title)
  .map(el => el.outerHTML.slice(0, 120))"""


def test_every_page_says_when_it_is_empty_and_labels_each_control(
    page, live_server, admin, workspace_a
):
    sign_in(page, live_server, admin)
    bare, unlabelled = {}, {}
    for path in EMPTY_PAGES:
        response = page.goto(f"{live_server.url}{path}")
        assert response.status == 200, path
        page.wait_for_load_state("networkidle")
        if found := page.evaluate(BARE_TABLES):
            bare[path] = found
        if found := page.evaluate(UNLABELLED):
            unlabelled[path] = found
        assert page.locator("main").inner_text().strip(), path
    assert not bare, f"tables with no rows and nothing said: {bare}"
    assert not unlabelled, f"controls without a label: {unlabelled}"
    page.goto(f"{live_server.url}/probes/")
    expect(page.locator(".empty-state")).to_contain_text("Nothing to probe yet")
    expect(page.get_by_role("link", name="Register an endpoint")).to_be_visible()


def test_forms_with_data_label_each_control(page, live_server, admin, make_vpc, make_endpoint):
    endpoint = make_endpoint(vpc=make_vpc())
    sign_in(page, live_server, admin)
    unlabelled = {}
    for path in (
        "/endpoints/new/",
        "/endpoints/new/?kind=privatelink_custom",
        f"/endpoints/{endpoint.pk}/edit/",
        "/vpcs/new/",
        "/workspaces/new/",
        "/alerts/",
        "/maintenance/",
        "/costs/prices/new/",
        "/endpoints/?q=x&status=up",
    ):
        page.goto(f"{live_server.url}{path}")
        page.wait_for_load_state("networkidle")
        if found := page.evaluate(UNLABELLED):
            unlabelled[path] = found
    assert not unlabelled, f"controls without a label: {unlabelled}"


def test_a_failed_refresh_says_so_once_and_clears(page, live_server, ops, make_endpoint):
    """The board refreshes itself every 10 s: when the portal answers 500, or not at all, the
    page says so (once, however many refreshes fail) and keeps what it showed."""
    make_endpoint(name="bj private", status="up")
    sign_in(page, live_server, ops)
    page.goto(f"{live_server.url}/probes/")
    expect(page.locator("#board")).to_contain_text("Up")

    def refresh():  # what the 10 s trigger does, now
        page.evaluate(
            "() => { htmx.ajax('GET', '/probes/', "
            "{source: '#board', target: '#board', swap: 'outerHTML'}).catch(() => {}); }"
        )

    failing = re.compile(r".*/probes/$")
    page.route(failing, lambda route: route.fulfill(status=500, body="boom"))
    refresh()
    alert = page.locator("#messages [role=alert]")
    expect(alert).to_have_count(1)
    expect(alert).to_contain_text("The request failed (500)")
    page.unroute(failing)
    page.route(failing, lambda route: route.abort("connectionrefused"))
    refresh()
    refresh()
    expect(alert).to_have_count(1)
    expect(alert).to_contain_text("did not answer")
    expect(page.locator("#board")).to_contain_text("Status of all endpoints")  # it stays
    page.unroute(failing)
    refresh()
    expect(alert).to_have_count(0)


def test_signing_in_and_acknowledging_with_the_keyboard_only(page, live_server, ops, make_endpoint):
    endpoint = make_endpoint(name="bj private")
    incident = Incident.objects.create(
        endpoint=endpoint,
        status="down",
        diagnosis="tcp_timeout",
        message="no answer",
        opened_at=timezone.now(),
    )
    page.goto(f"{live_server.url}/login/")
    page.keyboard.press("Tab")  # the first stop is the skip link or the username field
    for _ in range(5):
        if page.evaluate("() => document.activeElement.id") == "id_username":
            break
        page.keyboard.press("Tab")
    page.keyboard.type(ops.username)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page.locator("h1")).to_contain_text("Probe status")

    note = page.locator(f"#incident-{incident.pk}").get_by_placeholder("Note (optional)")
    note.focus()
    page.keyboard.type("on it")
    page.keyboard.press("Tab")
    focused = page.evaluate("() => document.activeElement.textContent.trim()")
    assert focused == "Acknowledge", focused
    page.keyboard.press("Enter")
    expect(page.locator(f"#incident-{incident.pk}")).to_contain_text(f"✓ {ops.username}")


def test_registering_an_endpoint_with_the_keyboard_only(page, live_server, admin, make_workspace):
    workspace = make_workspace("kb-team")
    sign_in(page, live_server, admin)
    page.goto(f"{live_server.url}/endpoints/new/")
    # The kinds are radio buttons: Tab into the group, arrows to choose.
    kind = page.get_by_label("Public base URL", exact=False).first
    kind.focus()
    page.keyboard.press("Space")
    expect(page.locator("#id_url")).to_be_visible()
    page.locator("#id_name").focus()
    page.keyboard.type("kb public")
    page.keyboard.press("Tab")
    focused = page.evaluate("() => document.activeElement.id")
    assert focused, "Tab leaves the name field for another control"
    page.locator("#id_url").focus()
    page.keyboard.type("https://dashscope.aliyuncs.com")
    page.locator("#id_region").focus()
    # A select moves with the keys, one change (and one check) per key: the last one wins.
    for key in ("End", "Home", "ArrowDown", "End"):
        page.keyboard.press(key)
    page.locator("#id_region").select_option("cn-beijing")
    page.wait_for_load_state("networkidle")
    expect(page.locator("#id_region")).to_have_value("cn-beijing")
    page.locator("#id_workspace").focus()
    page.keyboard.press("ArrowDown")  # the first (only) workspace, chosen with a key
    assert page.locator("#id_workspace").input_value() == str(workspace.pk)
    page.locator("button:has-text('Register')").focus()
    page.keyboard.press("Enter")
    page.wait_for_load_state("networkidle")
    errors = page.locator(".invalid-feedback, .alert-danger")
    assert errors.count() == 0, errors.all_inner_texts()
    expect(page.locator("h1")).to_have_text("kb public", timeout=10_000)
