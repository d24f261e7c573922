"""GET /api/v1/costs and the prices API: shapes, decimal strings, budgets, bad input."""

from datetime import date
from decimal import Decimal

import pytest

from portal.costs.models import ModelPrice, UsageRecord
from tests.costs.conftest import usage_row


@pytest.fixture
def march(workspace_a, workspace_b, ingest):
    workspace_a.monthly_budget = Decimal("31.00")
    workspace_a.save()
    ingest(
        usage_row(workspace_a, date(2026, 3, 1), tokens_in=1_000_000, tokens_out=500_000),
        usage_row(workspace_b, date(2026, 3, 31), tokens_in=1_000_000),
    )


def test_the_split_has_the_documented_shape_with_decimal_strings(api_client, admin, march):
    body = api_client(admin).get("/api/v1/costs", start="2026-03-01", end="2026-03-31").json()
    assert set(body) == {"start", "end", "totals", "workspaces"}
    assert (body["start"], body["end"]) == ("2026-03-01", "2026-03-31")
    assert body["totals"] == {"USD": "0.400000", "CNY": "1.800000"}
    team_a = next(w for w in body["workspaces"] if w["slug"] == "team-a")
    assert team_a == {
        "slug": "team-a",
        "currency": "CNY",
        "cost": "1.800000",
        "share": "1.0000",
        "requests": 100,
        "input_tokens": 1_000_000,
        "output_tokens": 500_000,
        "budget": "31.000000",
        "budget_used": "0.0581",
        "by_model": [
            {
                "model": "qwen-plus",
                "cost": "1.800000",
                "input_tokens": 1_000_000,
                "output_tokens": 500_000,
                "requests": 100,
            }
        ],
    }


def test_the_range_is_inclusive_and_the_budget_prorated(api_client, admin, march):
    body = api_client(admin).get("/api/v1/costs", start="2026-03-31", end="2026-03-31").json()
    rows = {w["slug"]: w for w in body["workspaces"]}
    assert rows["team-b"]["cost"] == "0.400000" and rows["team-a"]["cost"] == "0.000000"
    assert rows["team-a"]["budget"] == "1.000000"  # one day of a 31-day month of 31.00
    assert rows["team-b"]["budget"] is None and rows["team-b"]["budget_used"] is None


@pytest.mark.parametrize(
    "params, field",
    [
        ({"start": "2026-03-31", "end": "2026-03-01"}, "end"),
        ({"start": "2026-3-1", "end": "2026-03-31"}, "start"),
        ({"start": "2026-02-30", "end": "2026-03-31"}, "start"),
        ({"start": "2026-03-01"}, "end"),
        ({}, "start"),
        ({"start": "2020-01-01", "end": "2026-03-31"}, "end"),
        ({"start": "0001-01-01", "end": "9999-12-31"}, "start"),
        ({"start": "2026-03-01\x00", "end": "2026-03-31"}, "start"),
    ],
)
def test_bad_or_reversed_dates_are_a_400_by_field(api_client, admin, params, field):
    response = api_client(admin).get("/api/v1/costs", **params)
    assert response.status_code == 400
    assert field in response.json()["errors"]


def test_a_lead_gets_their_workspaces_only_and_ops_are_refused(api_client, lead_a, ops, march):
    body = api_client(lead_a).get("/api/v1/costs", start="2026-03-01", end="2026-03-31").json()
    assert [w["slug"] for w in body["workspaces"]] == ["team-a"]
    assert body["totals"] == {"USD": "0.000000", "CNY": "1.800000"}
    assert (
        api_client(ops).get("/api/v1/costs", start="2026-03-01", end="2026-03-31").status_code
        == 403
    )


def test_prices_are_listed_and_added_through_the_api(api_client, admin, workspace_a, ingest):
    ingest(usage_row(workspace_a, date(2026, 4, 2), tokens_in=1_000_000))
    listed = api_client(admin).get("/api/v1/prices", model="qwen-plus", region="cn-beijing").json()
    assert (
        listed[0]["input_per_million"] == "0.800000" and listed[0]["effective_from"] == "2024-01-01"
    )
    body = {
        "model": "qwen-plus",
        "region": "cn-beijing",
        "input_per_million": "1.20",
        "output_per_million": "3",
        "currency": "CNY",
        "effective_from": "2026-04-01",
    }
    response = api_client(admin).post("/api/v1/prices", body)
    assert response.status_code == 201, response.content
    assert response.json()["recosted"] == 1 and response.json()["input_per_million"] == "1.200000"
    assert UsageRecord.objects.get().cost == Decimal("1.2")
    again = api_client(admin).post("/api/v1/prices", {**body, "input_per_million": "1.30"})
    assert (
        again.status_code == 200
        and ModelPrice.objects.filter(model__name="qwen-plus", region_id="cn-beijing").count() == 2
    )
    assert UsageRecord.objects.get().cost == Decimal("1.3")


@pytest.mark.parametrize(
    "change, field",
    [
        ({"model": "nope"}, "model"),
        ({"region": "cn-hangzhou"}, "region"),
        ({"currency": "USD"}, "currency"),
        ({"input_per_million": "abc"}, "input_per_million"),
        ({"input_per_million": "-1"}, "input_per_million"),
        ({"input_per_million": "1e400"}, "input_per_million"),
        ({"effective_from": "yesterday"}, "effective_from"),
        (
            {
                "tiers": [
                    {"over_input_tokens": 10, "input_per_million": "1", "output_per_million": "1"},
                    {"over_input_tokens": 5, "input_per_million": "1", "output_per_million": "1"},
                ]
            },
            "tiers",
        ),
    ],
)
def test_a_bad_price_is_a_400_naming_the_field(api_client, admin, db, change, field):
    body = {
        "model": "qwen-plus",
        "region": "cn-beijing",
        "input_per_million": "1",
        "output_per_million": "1",
        "currency": "CNY",
        "effective_from": "2026-04-01",
        **change,
    }
    response = api_client(admin).post("/api/v1/prices", body)
    assert response.status_code == 400, response.content
    assert any(key.startswith(field) for key in response.json()["errors"]), response.json()
    assert not ModelPrice.objects.filter(effective_from=date(2026, 4, 1)).exists()


@pytest.mark.parametrize("who, status", [("lead_a", 200), ("ops", 403)])
def test_who_may_read_prices(request, db, api_client, who, status):
    assert api_client(request.getfixturevalue(who)).get("/api/v1/prices").status_code == status


def test_leads_may_not_change_prices(api_client, lead_a):
    body = {
        "model": "qwen-plus",
        "region": "cn-beijing",
        "input_per_million": "9",
        "output_per_million": "9",
        "currency": "CNY",
        "effective_from": "2026-04-01",
    }
    assert api_client(lead_a).post("/api/v1/prices", body).status_code == 403
