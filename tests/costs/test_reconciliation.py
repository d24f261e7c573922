"""Reconciliation: per workspace and month, the bill against our metered estimate, the
difference in money and percent, highlighted past the threshold, with the models and keys
present on one side only."""

import csv
import io
from datetime import date
from decimal import Decimal

import pytest

from portal.costs.reports import reconciliation
from portal.workspaces import services as workspace_services
from portal.workspaces.models import Workspace
from tests.costs.conftest import bill_csv, bill_row, usage_row


@pytest.fixture
def march(workspace_a, workspace_b, ingest, import_bill):
    key = workspace_a.api_keys.get()
    workspace_services.set_key_id(key, "1234567", actor=None)
    ingest(
        # 1.80 CNY of qwen-plus through the linked key, 0.30 of qwen-turbo the bill lacks.
        usage_row(
            workspace_a,
            date(2026, 3, 2),
            tokens_in=1_000_000,
            tokens_out=500_000,
            key_fingerprint=key.fingerprint,
        ),
        usage_row(
            workspace_a,
            date(2026, 3, 2),
            "qwen-turbo",
            1_000_000,
            0,
            key_fingerprint=key.fingerprint,
        ),
        usage_row(workspace_b, date(2026, 3, 2), tokens_in=2_475_000),  # 0.99 USD
    )
    import_bill(
        bill_csv(
            [
                bill_row(workspace_a, day="2026-03-02", amount="2.00", key_id="1234567"),
                bill_row(
                    workspace_a, day="2026-03-03", model="qwen-max", amount="1.00", key_id="1234567"
                ),
                bill_row(workspace_b, day="2026-03-02", amount="1.00", key_id=""),
            ]
        )
    )
    return key


def test_the_bill_against_the_estimate_with_what_explains_the_difference(march, workspace_a):
    rows = {r.workspace.slug: r for r in reconciliation(Workspace.objects.all(), date(2026, 3, 1))}
    team_a = rows["team-a"]
    assert (team_a.bill, team_a.estimate, team_a.difference) == (
        Decimal("3"),
        Decimal("2.1"),
        Decimal("0.9"),
    )
    assert team_a.percent == Decimal("30.00") and team_a.flagged
    assert [(e.kind, e.name, e.side) for e in team_a.one_sided] == [
        ("model", "qwen-max", "bill only"),
        ("model", "qwen-turbo", "metered only"),
    ]
    assert [e.side for e in team_a.keys] == ["both"]  # the bill's key ID is the stored key
    team_b = rows["team-b"]
    assert team_b.percent == Decimal("1.00") and not team_b.flagged  # under the 2 % threshold
    assert [(e.name, e.side) for e in team_b.keys] == [("no key (console calls or probes)", "both")]


def test_the_threshold_is_a_setting(march, settings):
    settings.PORTAL_RECONCILE_THRESHOLD_PCT = "1"
    rows = {r.workspace.slug: r for r in reconciliation(Workspace.objects.all(), date(2026, 3, 1))}
    assert rows["team-b"].flagged  # 1 % >= 1 %


def test_the_page_highlights_and_exports_it(client_for, admin, march):
    client = client_for(admin)
    html = client.get("/costs/reconciliation/?month=2026-03").content.decode()
    assert html.count('data-flagged="yes"') == 1 and "30.00 %" in html
    assert "qwen-turbo" in html and "metered, not in the bill" in html
    table = list(
        csv.reader(
            io.StringIO(
                client.get("/costs/reconciliation/?month=2026-03&format=csv").content.decode()
            )
        )
    )
    team_a = next(r for r in table if r[1] == "team-a")
    assert team_a[3:8] == ["3.000000", "2.100000", "0.900000", "30.00", "yes"]


def test_a_month_without_a_bill_says_so(client_for, admin, workspace_a, ingest):
    ingest(usage_row(workspace_a, date(2026, 4, 2), tokens_in=1_000_000))
    html = client_for(admin).get("/costs/reconciliation/?month=2026-04").content.decode()
    assert "No bill is imported for April 2026 yet" in html


def test_the_api_reports_it_too(api_client, lead_a, march):
    body = api_client(lead_a).get("/api/v1/costs/reconciliation", month="2026-03").json()
    assert body == [
        {
            "slug": "team-a",
            "currency": "CNY",
            "month": "2026-03",
            "bill": "3.000000",
            "estimate": "2.100000",
            "difference": "0.900000",
            "percent": "30.00",
            "flagged": True,
            "one_sided": [
                {
                    "kind": "model",
                    "name": "qwen-max",
                    "bill": "1.000000",
                    "estimate": "0.000000",
                    "side": "bill only",
                },
                {
                    "kind": "model",
                    "name": "qwen-turbo",
                    "bill": "0.000000",
                    "estimate": "0.300000",
                    "side": "metered only",
                },
            ],
        }
    ]
    assert api_client(lead_a).get("/api/v1/costs/reconciliation", month="2026-3").status_code == 400
