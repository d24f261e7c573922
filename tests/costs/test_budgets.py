"""Budgets: 80 %, 100 % and a forecast, one rule (>=) for all; each alert claimed once per
workspace, threshold, month and budget amount; released when no channel delivers it."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from portal.costs import services
from portal.costs.models import BudgetAlert
from portal.costs.reports import budget_status
from portal.costs.signals import budget_threshold_crossed
from tests.costs.conftest import usage_row

TODAY = date(2026, 3, 10)  # day 10 of a 31-day month


@pytest.fixture
def budgeted(workspace_a):
    workspace_a.monthly_budget = Decimal("10.00")
    workspace_a.save()
    return workspace_a


def spend(ingest, workspace, amount: str, day=date(2026, 3, 5)):
    """Metered usage costing exactly `amount` CNY (Beijing qwen-plus: 0.80 per million input)."""
    tokens = int(Decimal(amount) / Decimal("0.8") * 1_000_000)
    ingest(usage_row(workspace, day, tokens_in=tokens, requests=max(100, tokens // 100_000)))


@pytest.fixture
def channel():
    """A receiver standing in for the alerts app: records each alert, answers `reply`."""

    class Channel:
        reply = True
        received: list

        def __init__(self):
            self.received = []

        def __call__(self, sender, alert, **kwargs):
            self.received.append((alert.workspace.slug, alert.threshold, alert.budget, alert.spend))
            if isinstance(self.reply, Exception):
                raise self.reply
            return self.reply

    state = Channel()

    def receiver(sender, alert, **kwargs):
        return state(sender, alert, **kwargs)

    budget_threshold_crossed.connect(receiver, weak=False)
    yield state
    budget_threshold_crossed.disconnect(receiver)


@pytest.mark.parametrize(
    "amount, crossed",
    [
        ("2.00", []),  # projected 2.00 x 31 / 10 = 6.20
        ("3.22", []),  # projected 9.982
        ("3.23", ["forecast"]),  # projected 10.013: over the budget at this rate
        ("7.99", ["forecast"]),
        ("8.00", ["80", "forecast"]),  # exactly 80 %: >=
        ("10.00", ["80", "100", "forecast"]),  # exactly the budget: >=
    ],
)
def test_thresholds_are_reached_at_or_past_them(budgeted, ingest, amount, crossed):
    spend(ingest, budgeted, amount)
    status = budget_status([budgeted], TODAY)[budgeted.pk]
    assert status.spend == Decimal(amount) and status.crossed == crossed


def test_each_alert_is_sent_once_per_workspace_threshold_month_and_amount(
    budgeted, ingest, channel
):
    spend(ingest, budgeted, "8.50")
    assert services.check_budgets(TODAY)["delivered"] == 2
    assert sorted(t for _, t, _, _ in channel.received) == ["80", "forecast"]
    assert services.check_budgets(TODAY)["due"] == 0  # claimed: not sent again
    spend(ingest, budgeted, "10.00", day=date(2026, 3, 6))
    services.check_budgets(TODAY)
    assert [t for _, t, _, _ in channel.received[2:]] == ["100"]
    assert BudgetAlert.objects.filter(delivered_at__isnull=False).count() == 3


def test_changing_the_budget_re_arms_every_threshold(budgeted, ingest, channel):
    spend(ingest, budgeted, "9.00")
    services.check_budgets(TODAY)
    budgeted.monthly_budget = Decimal("11.00")
    budgeted.save()
    services.check_budgets(TODAY)
    amounts = [(t, b) for _, t, b, _ in channel.received]
    assert ("80", Decimal("10")) in amounts and ("80", Decimal("11")) in amounts
    assert services.check_budgets(TODAY)["due"] == 0


def test_a_new_month_re_arms_them(budgeted, ingest, channel):
    spend(ingest, budgeted, "9.00")
    services.check_budgets(TODAY)
    spend(ingest, budgeted, "9.00", day=date(2026, 4, 2))
    services.check_budgets(date(2026, 4, 20))
    months = {a.month for a in BudgetAlert.objects.all()}
    assert months == {date(2026, 3, 1), date(2026, 4, 1)}


@pytest.mark.parametrize("reply", [False, None, RuntimeError("smtp down")])
def test_a_failed_send_releases_the_claim_so_the_next_check_tries_again(
    budgeted, ingest, channel, reply
):
    spend(ingest, budgeted, "9.00")
    channel.reply = reply
    assert services.check_budgets(TODAY)["released"] == 2
    assert BudgetAlert.objects.count() == 0
    channel.reply = True
    assert services.check_budgets(TODAY)["delivered"] == 2


def test_without_a_receiver_nothing_is_claimed_but_the_pages_flag_it(
    budgeted, ingest, client_for, admin
):
    spend(ingest, budgeted, "9.00", day=timezone.localdate())
    assert services.check_budgets()["released"] >= 1
    assert BudgetAlert.objects.count() == 0
    html = client_for(admin).get("/costs/workspaces/team-a/").content.decode()
    assert "80 % of budget" in html


def test_a_claim_another_checker_holds_is_not_sent_twice(budgeted, ingest, channel):
    spend(ingest, budgeted, "8.50")
    BudgetAlert.objects.create(  # a concurrent checker claimed 80 % a moment ago
        workspace=budgeted,
        month=date(2026, 3, 1),
        threshold="80",
        budget=Decimal("10"),
        currency="CNY",
        spend=Decimal("8.5"),
        projected=Decimal("26"),
    )
    services.check_budgets(TODAY)
    assert [t for _, t, _, _ in channel.received] == ["forecast"]


def test_a_stale_claim_whose_sender_died_is_released_and_sent(budgeted, ingest, channel):
    spend(ingest, budgeted, "8.50")
    BudgetAlert.objects.create(
        workspace=budgeted,
        month=date(2026, 3, 1),
        threshold="80",
        budget=Decimal("10"),
        currency="CNY",
        spend=Decimal("8.5"),
        projected=Decimal("26"),
        claimed_at=timezone.now() - timedelta(hours=1),
    )
    services.check_budgets(TODAY)
    assert sorted(t for _, t, _, _ in channel.received) == ["80", "forecast"]


def test_the_task_runs_the_check(budgeted, ingest, channel):
    from portal.costs.tasks import check_budgets

    spend(ingest, budgeted, "9.50", day=timezone.localdate())
    result = check_budgets.apply().get()
    assert result["delivered"] >= 1


def test_no_budget_no_alert(workspace_a, ingest, channel):
    spend(ingest, workspace_a, "500.00")
    assert services.check_budgets(TODAY)["due"] == 0
