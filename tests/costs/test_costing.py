"""Costs against figures computed by hand: a price change mid-range, two currencies, a tiered
model, cached and batch tokens; and a price change re-costing the usage it covers."""

from datetime import date
from decimal import Decimal

import pytest

from portal.audit.models import AuditEntry
from portal.costs.models import ModelPrice, UsageRecord
from tests.costs.conftest import usage_row

MARCH = {"start": "2026-03-01", "end": "2026-03-31"}


def costs(api_client, user, **params):
    response = api_client(user).get("/api/v1/costs", **(params or MARCH))
    assert response.status_code == 200, response.content
    return response.json()


def by_slug(body):
    return {w["slug"]: w for w in body["workspaces"]}


def test_a_price_change_mid_month_costs_each_day_with_the_price_in_force(
    api_client, admin, workspace_a, set_price, ingest
):
    # Seeded: qwen-plus in Beijing 0.80 / 2.00 CNY per million since 2024-01-01.
    set_price("qwen-plus", "cn-beijing", date(2026, 3, 16), "1.00", "3.00")
    ingest(
        usage_row(
            workspace_a, date(2026, 3, 10), tokens_in=1_000_000, tokens_out=500_000, requests=10
        ),
        usage_row(
            workspace_a, date(2026, 3, 20), tokens_in=1_000_000, tokens_out=500_000, requests=10
        ),
    )
    # 10 March: 1.0 M x 0.80 + 0.5 M x 2.00 = 1.80; 20 March: 1.0 M x 1.00 + 0.5 M x 3.00 = 2.50.
    team_a = by_slug(costs(api_client, admin))["team-a"]
    assert team_a["cost"] == "4.300000"
    assert team_a["input_tokens"] == 2_000_000 and team_a["requests"] == 20
    assert team_a["by_model"] == [
        {
            "model": "qwen-plus",
            "cost": "4.300000",
            "input_tokens": 2_000_000,
            "output_tokens": 1_000_000,
            "requests": 20,
        }
    ]
    halves = costs(api_client, admin, start="2026-03-16", end="2026-03-31")
    assert by_slug(halves)["team-a"]["cost"] == "2.500000"


def test_two_currencies_are_never_added_and_shares_are_per_currency(
    api_client, admin, workspace_a, workspace_b, make_workspace, ingest
):
    workspace_c = make_workspace("team-c", region="cn-beijing")
    ingest(
        usage_row(
            workspace_a, date(2026, 3, 5), tokens_in=1_000_000, tokens_out=500_000
        ),  # 1.80 CNY
        usage_row(workspace_c, date(2026, 3, 5), tokens_in=250_000, tokens_out=0),  # 0.20 CNY
        # Singapore qwen-plus 0.40 / 1.20 USD: 2 M x 0.40 + 1 M x 1.20 = 2.00 USD
        usage_row(workspace_b, date(2026, 3, 5), tokens_in=2_000_000, tokens_out=1_000_000),
    )
    body = costs(api_client, admin)
    assert body["totals"] == {"CNY": "2.000000", "USD": "2.000000"}
    rows = by_slug(body)
    assert (rows["team-a"]["currency"], rows["team-a"]["share"]) == ("CNY", "0.9000")
    assert (rows["team-c"]["currency"], rows["team-c"]["share"]) == ("CNY", "0.1000")
    assert (rows["team-b"]["currency"], rows["team-b"]["share"]) == ("USD", "1.0000")


def test_a_tiered_model_is_costed_by_the_input_length_of_its_requests(
    api_client, admin, workspace_b, ingest
):
    # qwen3-max in Singapore: 1.2 / 6 USD up to 32K input tokens per request, 2.4 / 12 above
    # 32K, 3.0 / 15 above 128K (K = 1,024).
    ingest(
        # 50,000 input tokens per request: the second tier. 0.5 M x 2.4 + 0.02 M x 12 = 1.44
        usage_row(workspace_b, date(2026, 3, 2), "qwen3-max", 500_000, 20_000, requests=10),
        # 10,000 per request: the base. 1 M x 1.2 + 0.01 M x 6 = 1.26
        usage_row(workspace_b, date(2026, 3, 3), "qwen3-max", 1_000_000, 10_000, requests=100),
        # 200,000 per request: the third. 0.2 M x 3.0 + 0.001 M x 15 = 0.615
        usage_row(workspace_b, date(2026, 3, 4), "qwen3-max", 200_000, 1_000, requests=1),
    )
    assert by_slug(costs(api_client, admin))["team-b"]["cost"] == "3.315000"
    # Exactly at a threshold is still the lower tier: 32,768 per request.
    ingest(usage_row(workspace_b, date(2026, 3, 5), "qwen3-max", 32_768, 0, requests=1))
    record = UsageRecord.objects.get(workspace=workspace_b, day=date(2026, 3, 5))
    assert record.cost == Decimal("0.0393216")  # 32,768 x 1.2 / 1 M


def test_cached_input_and_batch_calls_cost_their_ratios(workspace_a, ingest):
    # Beijing qwen-plus: cache hits 20 % of the input price, batch 50 % of the whole.
    ingest(
        usage_row(
            workspace_a,
            date(2026, 3, 6),
            tokens_in=1_000_000,
            requests=10,
            cached_input_tokens=400_000,
        ),
        usage_row(
            workspace_a,
            date(2026, 3, 6),
            tokens_in=1_000_000,
            requests=10,
            cached_input_tokens=400_000,
            batch=True,
        ),
    )
    # 0.6 M x 0.80 + 0.4 M x 0.16 = 0.544; in batch: half of that.
    costs = dict(UsageRecord.objects.filter(workspace=workspace_a).values_list("batch", "cost"))
    assert costs == {False: Decimal("0.544"), True: Decimal("0.272")}


def test_changing_a_price_recosts_metered_usage_but_not_the_bill_and_is_audited(
    workspace_a, set_price, ingest, import_bill
):
    from tests.costs.conftest import bill_csv, bill_row

    ingest(usage_row(workspace_a, date(2026, 3, 10), tokens_in=1_000_000))
    import_bill(bill_csv([bill_row(workspace_a, day="2026-03-11", amount="5.00")]))
    price = set_price("qwen-plus", "cn-beijing", date(2024, 1, 1), "1.50", "2.00")
    metered = UsageRecord.objects.get(workspace=workspace_a, source="api")
    billed = UsageRecord.objects.get(workspace=workspace_a, source="bill")
    assert metered.cost == Decimal("1.5") and billed.cost == Decimal("5")
    entry = AuditEntry.objects.filter(target_type="model price", target_id=str(price.pk)).first()
    assert entry.action == "update"
    assert entry.changes["before"]["input_per_million"] == "0.80000000"
    assert entry.changes["after"]["input_per_million"] == "1.50000000"


def test_usage_without_a_price_is_flagged_and_costed_once_a_price_is_added(
    workspace_b, set_price, ingest
):
    ModelPrice.objects.filter(model__name="qwen-max", region_id="ap-southeast-1").delete()
    ingest(usage_row(workspace_b, date(2026, 3, 10), "qwen-max", 1_000_000, 0))
    record = UsageRecord.objects.get(workspace=workspace_b)
    assert (record.cost, record.priced) == (Decimal(0), False)
    set_price("qwen-max", "ap-southeast-1", date(2026, 3, 1), "1.60", "6.40")
    record.refresh_from_db()
    assert (record.cost, record.priced, record.currency) == (Decimal("1.6"), True, "USD")


@pytest.mark.parametrize(
    "change, field, message",
    [
        ({"currency": "USD"}, "currency", "bills in CNY"),
        ({"input_per_million": Decimal("-1")}, "input_per_million", "between 0"),
        ({"batch_ratio": Decimal("1.5")}, "batch_ratio", "between 0 and 1"),
        (
            {
                "tiers": [
                    {"over_input_tokens": 0, "input_per_million": "1", "output_per_million": "1"}
                ]
            },
            "tiers",
            "above 0",
        ),
        (
            {
                "tiers": [
                    {"over_input_tokens": 10, "input_per_million": "x", "output_per_million": "1"}
                ]
            },
            "tiers",
            "not a decimal",
        ),
        (
            {"tiers": [{"over_input_tokens": 10, "input_per_million": "1"}]},
            "tiers",
            "give over_input_tokens",
        ),
    ],
)
def test_a_bad_price_is_refused_with_the_field_and_changes_nothing(
    workspace_a, change, field, message
):
    from django.core.exceptions import ValidationError

    from portal.costs import services

    price = ModelPrice.objects.get(model__name="qwen-plus", region_id="cn-beijing")
    for name, value in change.items():
        setattr(price, name, value)
    with pytest.raises(ValidationError) as caught:
        services.save_price(price, actor=None)
    assert message in " ".join(caught.value.message_dict[field])
    assert ModelPrice.objects.get(pk=price.pk).input_per_million == Decimal("0.8")


def test_a_model_not_offered_in_the_region_cannot_get_a_price(db):
    from django.core.exceptions import ValidationError

    from portal.costs import services
    from portal.workspaces.models import CatalogModel, Region

    price = ModelPrice(
        model=CatalogModel.objects.get(name="qwen3-max"),
        region=Region.objects.get(pk="cn-hongkong"),
        effective_from=date(2026, 1, 1),
        input_per_million=Decimal(1),
        output_per_million=Decimal(1),
    )
    with pytest.raises(ValidationError) as caught:
        services.save_price(price, actor=None)
    assert "not offered in China (Hong Kong)" in caught.value.message_dict["region"][0]
