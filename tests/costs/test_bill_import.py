"""Importing the bill: the preview lists every row that does not map; the import is all or
nothing; importing the same file or the same rows again changes nothing; the bill is the
ledger of record where it covers a workspace's day."""

from datetime import date
from decimal import Decimal

import pytest

from portal.costs import services
from portal.costs.models import BillImport, BillLine, UsageRecord
from tests.costs.conftest import bill_csv, bill_row, usage_row


def ledger():
    """Everything the split counts, as comparable tuples."""
    return sorted(
        UsageRecord.objects.values_list(
            "workspace_id",
            "day",
            "source",
            "model_name",
            "key_id",
            "cost",
            "input_tokens",
            "output_tokens",
            "requests",
            "superseded",
        )
    )


@pytest.fixture
def march_bill(workspace_a, workspace_b):
    return bill_csv(
        [
            bill_row(
                workspace_a, day="2026-03-02", side="input_token", usage="1000000", amount="0.80"
            ),
            bill_row(
                workspace_a, day="2026-03-02", side="output_token", usage="500000", amount="1.00"
            ),
            bill_row(
                workspace_a,
                day="2026-03-03",
                model="qwen-max",
                side="output_token",
                usage="1000",
                amount="0.0096",
                key_id="",
            ),
            bill_row(
                workspace_b,
                day="2026-03-02",
                side="input_token",
                usage="2000000",
                amount="0.80",
                key_id="555",
            ),
        ]
    )


def test_the_preview_counts_rows_and_totals_each_workspace(march_bill, workspace_a):
    bill_import = services.upload_bill(march_bill, "march.csv", actor=None)
    p = bill_import.preview
    assert (p["rows"], p["new_rows"], p["duplicate_rows"], p["unmapped_rows"]) == (4, 4, 0, 0)
    assert p["ready"] and bill_import.can_confirm
    assert p["currency_totals"] == {"CNY": "1.8096", "USD": "0.80"}
    team_a = next(t for t in p["totals"] if t["slug"] == "team-a")
    assert (team_a["rows"], team_a["input_tokens"], team_a["output_tokens"]) == (
        3,
        1_000_000,
        501_000,
    )
    assert UsageRecord.objects.count() == 0  # a preview imports nothing


def test_every_row_that_does_not_map_is_listed_and_nothing_can_be_imported(
    workspace_a, workspace_b
):
    content = bill_csv(
        [
            bill_row(workspace_a, amount="1.00"),
            bill_row("llm-notregistered01", amount="2.00"),
            bill_row(workspace_b, amount="3.00", currency="CNY"),  # team B is billed in USD
            bill_row(workspace_a, day="yesterday", amount="4.00"),
        ]
    )
    bill_import = services.upload_bill(content, "bad.csv", actor=None)
    problems = {p["row"]: p["reason"] for p in bill_import.preview["problems"]}
    assert set(problems) == {3, 4, 5}
    assert "llm-notregistered01 is not registered in the portal" in problems[3]
    assert "in CNY but Team B is billed in USD" in problems[4]
    assert "is not a date" in problems[5]
    assert not bill_import.can_confirm
    queued = []
    assert not services.confirm_bill_import(bill_import, actor=None, enqueue=queued.append)
    assert queued == [] and BillLine.objects.count() == 0 and UsageRecord.objects.count() == 0


def test_an_import_rolls_the_rows_up_by_day_and_the_bill_supersedes_metered_days(
    march_bill, workspace_a, workspace_b, ingest, import_bill
):
    ingest(
        usage_row(
            workspace_a, date(2026, 3, 2), tokens_in=900_000, tokens_out=400_000, requests=40
        ),
        usage_row(workspace_a, date(2026, 3, 9), tokens_in=100_000, requests=5),
    )
    bill_import = import_bill(march_bill)
    assert bill_import.status == "done" and bill_import.imported_rows == 4
    assert bill_import.content == b""  # imported: the lines hold what counts
    bill_a = UsageRecord.objects.filter(workspace=workspace_a, source="bill").order_by(
        "day", "model_name"
    )
    assert [
        (r.day.day, r.model_name, r.cost, r.input_tokens, r.output_tokens, r.key_id) for r in bill_a
    ] == [
        (2, "qwen-plus", Decimal("1.8"), 1_000_000, 500_000, "1234567"),
        (3, "qwen-max", Decimal("0.0096"), 0, 1000, ""),
    ]
    metered = {r.day.day: r.superseded for r in UsageRecord.objects.filter(source="api")}
    assert metered == {2: True, 9: False}  # the bill covers the 2nd, not the 9th


def test_importing_the_same_file_again_changes_nothing(march_bill, import_bill):
    import_bill(march_bill)
    before, lines = ledger(), BillLine.objects.count()
    again = services.upload_bill(march_bill, "march-again.csv", actor=None)
    assert again.preview["new_rows"] == 0 and again.preview["duplicate_rows"] == 4
    assert "This exact file was imported" in again.preview["notes"][0]
    assert not services.confirm_bill_import(again, actor=None, enqueue=lambda _: None)
    assert ledger() == before and BillLine.objects.count() == lines


def test_the_same_rows_in_another_layout_or_an_overlapping_file_are_not_counted_twice(
    workspace_a, import_bill
):
    first = [
        bill_row(workspace_a, day="2026-03-02", amount="1.00"),
        bill_row(workspace_a, day="2026-03-03", amount="2.00"),
    ]
    import_bill(bill_csv(first))
    overlapping = [*first, bill_row(workspace_a, day="2026-03-04", amount="4.00")]
    bill_import = import_bill(bill_csv(overlapping, layout="fields", lang="zh"))
    assert (bill_import.imported_rows, bill_import.duplicate_rows) == (1, 2)
    total = sum(UsageRecord.objects.filter(source="bill").values_list("cost", flat=True))
    assert total == Decimal("7.00")


def test_two_imports_of_the_same_rows_confirmed_together_count_them_once(march_bill):
    first = services.upload_bill(march_bill, "a.csv", actor=None)
    second = services.upload_bill(march_bill, "b.csv", actor=None)
    queue = []
    assert services.confirm_bill_import(first, actor=None, enqueue=queue.append)
    assert services.confirm_bill_import(second, actor=None, enqueue=queue.append)
    for import_id in queue:
        services.run_bill_import(import_id)
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.imported_rows, second.imported_rows, second.duplicate_rows) == (4, 0, 4)
    assert BillLine.objects.filter(live=True).count() == 4


def test_an_import_that_fails_leaves_nothing_counted(march_bill, workspace_b, import_bill):
    bill_import = services.upload_bill(march_bill, "march.csv", actor=None)
    queue = []
    services.confirm_bill_import(bill_import, actor=None, enqueue=queue.append)
    workspace_b.delete()  # between the confirmation and the worker: a row no longer maps
    services.run_bill_import(queue[0])
    bill_import.refresh_from_db()
    assert bill_import.status == "failed" and bill_import.error.startswith("Nothing was imported")
    assert BillLine.objects.count() == 0 and UsageRecord.objects.count() == 0


def test_rows_staged_by_a_worker_that_died_count_nowhere_and_a_rerun_replaces_them(
    march_bill, workspace_a, import_bill, api_client, admin
):
    bill_import = services.upload_bill(march_bill, "march.csv", actor=None)
    queue = []
    services.confirm_bill_import(bill_import, actor=None, enqueue=queue.append)
    BillImport.objects.filter(pk=bill_import.pk).update(status="importing", done=2)
    BillLine.objects.create(  # what a dying worker left behind
        bill_import=bill_import,
        identity="x" * 32,
        row_number=2,
        day=date(2026, 3, 2),
        workspace=workspace_a,
        model_name="qwen-plus",
        amount=Decimal("99"),
        currency="CNY",
    )
    body = api_client(admin).get("/api/v1/costs", start="2026-03-01", end="2026-03-31").json()
    assert body["totals"]["CNY"] == "0.000000"
    services.run_bill_import(queue[0])  # the redelivered task
    assert BillLine.objects.filter(identity="x" * 32).count() == 0
    assert BillLine.objects.filter(live=True).count() == 4


def test_a_redelivered_task_of_a_finished_import_does_nothing(march_bill, import_bill):
    bill_import = import_bill(march_bill)
    before = ledger()
    assert services.run_bill_import(bill_import.pk) is None
    assert ledger() == before


def test_bill_rows_map_to_stored_keys_by_their_model_studio_key_id(
    march_bill, workspace_a, import_bill
):
    from portal.costs.reports import workspace_breakdown
    from portal.workspaces import services as workspace_services

    key = workspace_a.api_keys.get()
    workspace_services.set_key_id(key, "1234567", actor=None)
    import_bill(march_bill)
    breakdown = workspace_breakdown(workspace_a, date(2026, 3, 1), date(2026, 3, 31))
    keys = {row["key"]: row["cost"] for row in breakdown.by_key}
    assert keys == {
        key.fingerprint: Decimal("1.8"),
        "no key (console calls or probes)": Decimal("0.0096"),
    }


def test_unlinked_key_ids_are_noted_in_the_preview(march_bill):
    bill_import = services.upload_bill(march_bill, "march.csv", actor=None)
    assert any("1234567, 555" in note for note in bill_import.preview["notes"])


def test_mapping_an_unknown_header_makes_the_file_importable(workspace_a, import_bill):
    content = (
        "Day,Workspace,Model,Money,Currency\n"
        f"2026-03-05,{workspace_a.workspace_id},qwen-plus,2.50,CNY\n"
    ).encode()
    bill_import = services.upload_bill(content, "custom.csv", actor=None)
    assert bill_import.preview["missing"] == ["date", "amount", "workspace_id"]
    assert not bill_import.can_confirm
    bill_import = import_bill(
        content,
        mapping={
            "date": "Day",
            "workspace_id": "Workspace",
            "model_name": "Model",
            "amount": "Money",
        },
    )
    assert bill_import.status == "done"
    assert UsageRecord.objects.get(source="bill").cost == Decimal("2.5")


def test_a_mapping_to_a_column_the_file_lacks_is_refused(march_bill):
    from django.core.exceptions import ValidationError

    bill_import = services.upload_bill(march_bill, "march.csv", actor=None)
    with pytest.raises(ValidationError) as caught:
        services.map_bill_columns(bill_import, {"amount": "No Such Column"}, actor=None)
    assert "no column 'No Such Column'" in caught.value.message_dict["amount"][0]


def test_sums_of_many_bill_rows_are_exact_to_the_last_place(workspace_a, import_bill):
    # 3,000 rows of 0.1 and 3,000 of 0.00000001: a floating-point sum would not give these.
    rows = [
        bill_row(workspace_a, day="2026-03-07", amount="0.1", usage=str(n + 1)) for n in range(3000)
    ]
    rows += [
        bill_row(
            workspace_a,
            day="2026-03-07",
            amount="0.00000001",
            usage=str(n + 1),
            side="output_token",
        )
        for n in range(3000)
    ]
    import_bill(bill_csv(rows))
    record = UsageRecord.objects.get(source="bill")
    assert record.cost == Decimal("300.00003")


def test_a_column_unmapped_by_hand_stays_unmapped_when_the_worker_imports(workspace_a, import_bill):
    content = bill_csv([bill_row(workspace_a, amount="1.00", usage="5000")])
    bill_import = services.upload_bill(content, "a.csv", actor=None)
    mapping = {**bill_import.preview["mapping"], "usage": ""}  # the usage column is not tokens
    services.map_bill_columns(bill_import, mapping, actor=None)
    assert bill_import.preview["totals"][0]["input_tokens"] == 0
    queue = []
    services.confirm_bill_import(bill_import, actor=None, enqueue=queue.append)
    services.run_bill_import(queue[0])
    record = UsageRecord.objects.get(source="bill")
    assert (record.cost, record.input_tokens) == (Decimal("1"), 0)
