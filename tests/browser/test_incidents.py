"""Acknowledging an incident from the probe board, in Chromium."""

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from endpoints.status.models import Incident
from tests.browser.test_browser import sign_in

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def test_ops_acknowledge_an_incident_from_the_board(page, live_server, ops, make_endpoint):
    endpoint = make_endpoint(name="bj private")
    incident = Incident.objects.create(
        endpoint=endpoint,
        status="down",
        diagnosis="tcp_timeout",
        message="no answer",
        opened_at=timezone.now(),
    )
    sign_in(page, live_server, ops)
    page.goto(f"{live_server.url}/probes/")
    row = page.locator(f"#incident-{incident.pk}")
    expect(row).to_contain_text("bj private")
    row.get_by_placeholder("Note (optional)").fill("rebooting the ENI")
    row.get_by_role("button", name="Acknowledge").click()
    expect(page.locator(f"#incident-{incident.pk}")).to_contain_text(f"✓ {ops.username}")
    expect(page.locator(f"#incident-{incident.pk}")).to_contain_text("rebooting the ENI")
    incident.refresh_from_db()
    assert incident.acknowledged_by == ops and incident.note == "rebooting the ENI"
    assert page.url.endswith("/probes/")  # htmx swapped the row; no page load
