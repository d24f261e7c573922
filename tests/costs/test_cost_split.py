"""The cost split page, as team leads (and admins) see it."""

from datetime import date
from decimal import Decimal

import pytest

from portal.costs.models import UsageRecord


def test_a_lead_sees_only_their_workspaces_costs(client_for, lead_a, workspace_a, workspace_b):
    day = date.today()
    UsageRecord.objects.create(
        workspace=workspace_a,
        model_name="qwen-plus",
        day=day,
        requests=10,
        input_tokens=1000,
        output_tokens=500,
        cost=Decimal("1.25"),
        currency="CNY",
    )
    UsageRecord.objects.create(
        workspace=workspace_b,
        model_name="qwen-max",
        day=day,
        requests=3,
        input_tokens=900,
        output_tokens=90,
        cost=Decimal("9.99"),
        currency="USD",
    )
    client = client_for(lead_a)
    html = client.get("/costs/").content.decode()
    assert "Team A" in html and "Team B" not in html and "9.99" not in html
    csv_text = client.get("/costs/?format=csv").content.decode()
    assert "Team A" in csv_text and "Team B" not in csv_text
    assert csv_text.splitlines()[0].startswith("currency,workspace,slug,requests")


def test_the_cost_split_draws_a_chart_per_currency(client_for, admin, workspace_a, workspace_b):
    day = date.today()
    for ws, currency in [(workspace_a, "CNY"), (workspace_b, "USD")]:
        UsageRecord.objects.create(
            workspace=ws,
            model_name="qwen-plus",
            day=day,
            requests=1,
            input_tokens=10,
            output_tokens=5,
            cost=Decimal("2.00"),
            currency=currency,
        )
    html = client_for(admin).get("/costs/").content.decode()
    assert html.count("<canvas data-chart=") == 4  # per currency: by day and by model
    assert "Total CNY" in html and "Total USD" in html


@pytest.mark.parametrize("month", ["9999-12", "2026-13", "last"])
def test_a_bad_month_shows_this_month_with_a_note(client_for, admin, month):
    response = client_for(admin).get(f"/costs/?month={month}")
    assert response.status_code == 200
    assert "is not a month" in response.content.decode()


def test_a_lead_asking_for_another_workspaces_costs_gets_404(client_for, lead_a, workspace_b):
    assert client_for(lead_a).get("/costs/?workspace=team-b").status_code == 404
