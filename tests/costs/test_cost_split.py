"""The cost split page (team leads' home) and one workspace's breakdown."""

import csv
import io
import json
from datetime import date
from decimal import Decimal

import pytest
from django.utils import timezone

from portal.costs.models import UsageRecord
from tests.costs.conftest import usage_row


def rows_of(response):
    return list(csv.reader(io.StringIO(response.content.decode())))


@pytest.fixture
def month_of_usage(workspace_a, workspace_b, ingest):
    today = timezone.localdate()
    ingest(
        usage_row(
            workspace_a, today.replace(day=1), tokens_in=1_000_000, tokens_out=500_000
        ),  # 1.80 CNY
        usage_row(workspace_b, today.replace(day=1), tokens_in=1_000_000),  # 0.40 USD
    )
    return today


def test_a_lead_sees_only_their_workspaces_on_the_page_and_in_the_csv(
    client_for, lead_a, month_of_usage
):
    client = client_for(lead_a)
    html = client.get("/costs/").content.decode()
    assert "Team A" in html and "Team B" not in html and "0.40 USD" not in html
    assert "1.80 CNY" in html
    table = rows_of(client.get("/costs/?format=csv"))
    assert table[0] == [
        "currency",
        "workspace",
        "slug",
        "requests",
        "input_tokens",
        "output_tokens",
        "cost",
        "share",
        "budget",
        "budget_used",
        "probe_overhead",
    ]
    assert table[1:] == [
        [
            "CNY",
            "Team A",
            "team-a",
            "100",
            "1000000",
            "500000",
            "1.800000",
            "1.0000",
            "",
            "",
            "0.000000",
        ]
    ]


def test_an_admin_sees_each_currency_apart_with_a_chart_by_day_and_by_model(
    client_for, admin, month_of_usage
):
    html = client_for(admin).get("/costs/").content.decode()
    assert "Total CNY" in html and "Total USD" in html
    assert html.count("<canvas data-chart=") == 4
    assert 'style="' not in html and "onchange" not in html and "<script>" not in html  # CSP-safe


def test_the_chart_stacks_each_workspace_per_day_with_decimal_strings(
    client_for, admin, month_of_usage
):
    from html import unescape

    html = client_for(admin).get("/costs/").content.decode()
    start = html.index('data-chart="') + len('data-chart="')
    config = json.loads(unescape(html[start : html.index('"', start)]))
    dataset = config["data"]["datasets"][0]
    assert dataset["stack"] == "cost" and dataset["label"] == "Team A"
    assert dataset["data"][0] == "1.80"


def test_last_month_and_a_custom_range(client_for, admin, workspace_a, ingest):
    ingest(
        usage_row(workspace_a, date(2026, 2, 14), tokens_in=1_000_000),
        usage_row(workspace_a, date(2026, 2, 20), tokens_in=2_000_000),
    )
    client = client_for(admin)
    html = client.get("/costs/?range=custom&start=2026-02-14&end=2026-02-14").content.decode()
    assert "0.80 CNY" in html and "2.40 CNY" not in html
    table = rows_of(client.get("/costs/?range=custom&start=2026-02-01&end=2026-02-28&format=csv"))
    assert table[1][6] == "2.400000"


@pytest.mark.parametrize(
    "query, note",
    [
        ("?month=9999-12", "is not a month"),
        ("?month=2026-13", "is not a month"),
        ("?month=last", "is not a month"),
        ("?range=custom&start=2026-03-31&end=2026-03-01", "is before the start"),
        ("?range=custom&start=nope&end=2026-03-01", "YYYY-MM-DD"),
        ("?range=forever", "is not a range"),
    ],
)
def test_a_bad_range_shows_this_month_with_a_note(client_for, admin, query, note):
    response = client_for(admin).get(f"/costs/{query}")
    assert response.status_code == 200
    assert note in response.content.decode()


def test_the_split_names_unpriced_usage_and_probe_overhead(client_for, admin, workspace_a, ingest):
    from portal.costs.models import ModelPrice
    from portal.costs.services import account_probe_usage

    today = timezone.localdate()
    ModelPrice.objects.filter(model__name="qwen-max", region_id="cn-beijing").delete()
    ingest(usage_row(workspace_a, today, "qwen-max", 1000, 0))
    account_probe_usage(
        [(workspace_a, {"model": "qwen-plus", "input_tokens": 12, "output_tokens": 1})]
    )
    html = client_for(admin).get("/costs/").content.decode()
    assert "1 metered usage record in this range had no price" in html
    assert "Of which probe calls" in html


def test_a_workspaces_breakdown_by_model_key_and_day(client_for, lead_a, workspace_a, ingest):
    key = workspace_a.api_keys.get()
    ingest(
        usage_row(
            workspace_a, date(2026, 3, 2), tokens_in=1_000_000, key_fingerprint=key.fingerprint
        ),
        usage_row(workspace_a, date(2026, 3, 3), "qwen-max", 1_000_000, 0),
    )
    client = client_for(lead_a)
    query = "range=custom&start=2026-03-01&end=2026-03-31"
    by_model = rows_of(client.get(f"/costs/workspaces/team-a/?{query}&format=csv&table=models"))
    assert by_model[1:] == [
        ["qwen-max", "100", "1000000", "0", "2.400000"],
        ["qwen-plus", "100", "1000000", "0", "0.800000"],
    ]
    by_key = rows_of(client.get(f"/costs/workspaces/team-a/?{query}&format=csv&table=keys"))
    assert [r[0] for r in by_key[1:]] == ["no key (console calls or probes)", key.fingerprint]
    by_day = rows_of(client.get(f"/costs/workspaces/team-a/?{query}&format=csv&table=days"))
    assert by_day[1][0] == "2026-03-02" and by_day[1][-1] == "Ingest API"
    html = client.get(f"/costs/workspaces/team-a/?{query}&table=keys").content.decode()
    assert key.fingerprint in html and "3.20 CNY" in html


def test_budget_flags_show_on_the_split(client_for, admin, workspace_a, ingest):
    workspace_a.monthly_budget = Decimal("2.00")
    workspace_a.save()
    ingest(usage_row(workspace_a, timezone.localdate(), tokens_in=2_000_000))  # 1.60 = 80 %
    html = client_for(admin).get("/costs/").content.decode()
    assert "80 % of budget" in html and "80 %" in html
    assert UsageRecord.objects.count() == 1


def test_a_csv_cell_that_looks_like_a_formula_is_defused(client_for, admin, workspace_a, ingest):
    workspace_a.name = '=HYPERLINK("http://evil.example","x")'
    workspace_a.save()
    ingest(usage_row(workspace_a, timezone.localdate(), tokens_in=1_000))
    table = rows_of(client_for(admin).get("/costs/?format=csv"))
    row = next(r for r in table if r[2] == "team-a")
    assert row[1] == "'" + workspace_a.name
