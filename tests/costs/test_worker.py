"""A real Celery worker imports a 100,000-row bill: the progress moves, then every row counts."""

import time
from decimal import Decimal

import pytest

from portal.costs import services
from portal.costs.models import BillImport, BillLine, UsageRecord
from portal.costs.tasks import import_bill
from tests.conftest import wait_for
from tests.costs.conftest import bill_csv, bill_row

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def test_a_worker_imports_100000_rows_with_progress_then_all_of_them_count(
    make_workspace, celery_worker_process, tmp_path
):
    workspaces = [make_workspace(f"bulk-{n}", region="cn-beijing") for n in range(20)]
    rows = [
        bill_row(
            workspaces[n % 20],
            day=f"2026-03-{1 + n % 28:02d}",
            side="input_token" if n % 2 else "output_token",
            usage=str(1000 + n),
            amount="0.00123457",
            key_id=str(n % 7),
        )
        for n in range(100_000)
    ]
    bill_import = services.upload_bill(bill_csv(rows), "big.csv", actor=None)
    assert bill_import.preview["new_rows"] == 100_000
    celery_worker_process()
    started = time.monotonic()
    assert services.confirm_bill_import(bill_import, actor=None, enqueue=import_bill.delay)
    seen = set()

    def finished():
        current = BillImport.objects.only("status", "done", "total").get(pk=bill_import.pk)
        seen.add((current.status, current.done))
        return current.status in ("done", "failed") and current

    result = wait_for(
        finished, timeout=180, interval=0.05, message="the import", logs=[tmp_path / "worker.log"]
    )
    elapsed = time.monotonic() - started
    assert result.status == "done", result.error
    assert any(status == "importing" and 0 < done < 100_000 for status, done in seen), seen
    assert BillLine.objects.filter(live=True).count() == 100_000
    total = sum(UsageRecord.objects.filter(source="bill").values_list("cost", flat=True))
    assert total == Decimal("0.00123457") * 100_000
    print(f"100,000 bill rows imported by the worker in {elapsed:.1f} s")
    assert elapsed < 120
