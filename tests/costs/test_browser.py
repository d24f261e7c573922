"""In Debian's Chromium: upload a bill, confirm its preview, watch the progress bar, then see
the split and its chart for a custom date range (a real Celery worker imports the bill)."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.test_browser import sign_in
from tests.costs.conftest import bill_csv, bill_row

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def test_upload_confirm_watch_the_progress_then_the_split_for_a_custom_range(
    page, live_server, admin, workspace_a, celery_worker_process, tmp_path
):
    # 30,000 rows over ten days of March, 0.01 CNY each: 30.00 CNY a day.
    rows = [
        bill_row(workspace_a, day=f"2026-03-{1 + n % 10:02d}", amount="0.01", usage=str(100 + n))
        for n in range(30_000)
    ]
    path = tmp_path / "march.csv"
    path.write_bytes(bill_csv(rows, lang="zh"))
    celery_worker_process()
    sign_in(page, live_server, admin)

    page.goto(f"{live_server.url}/costs/bills/")
    page.set_input_files("#id_file", str(path))
    page.click("text=Upload and preview")
    expect(page.locator("#bill-counts")).to_contain_text("30,000")
    expect(page.locator("#bill-totals")).to_contain_text("300.00 CNY")
    page.click("text=Import 30,000 rows (all or nothing)")

    progress = page.locator("#bill-progress progress")
    expect(progress).to_be_visible()  # queued or importing: the bar is there, polled by htmx
    expect(page.locator("#bill-done")).to_contain_text("Imported 30,000 rows", timeout=90_000)
    expect(progress).to_have_count(0)

    page.click("text=See the cost split for 2026-03-01 – 2026-03-10")
    expect(page).to_have_url(re.compile(r"range=custom&start=2026-03-01&end=2026-03-10"))
    expect(page.locator(".split-table")).to_contain_text("Team A")
    expect(page.locator(".split-table")).to_contain_text("300.00 CNY")
    labels = (
        "() => document.querySelector('canvas[data-chart-kind=daily]')._chart.data.labels.length"
    )
    page.wait_for_function("() => !!document.querySelector('canvas[data-chart-kind=daily]')._chart")
    assert page.evaluate(labels) == 10

    page.fill("#id_start", "2026-03-04")
    page.fill("#id_end", "2026-03-05")
    expect(page.locator("#id_range")).to_have_value("custom")  # editing a date makes it custom
    page.click("button:has-text('Show')")
    expect(page).to_have_url(re.compile(r"start=2026-03-04&end=2026-03-05"))
    expect(page.locator(".split-table")).to_contain_text("60.00 CNY")
    page.wait_for_function("() => !!document.querySelector('canvas[data-chart-kind=daily]')._chart")
    assert page.evaluate(labels) == 2
    daily = page.evaluate(
        "() => document.querySelector('canvas[data-chart-kind=daily]')._chart.data.datasets[0].data"
    )
    assert daily == ["30.00", "30.00"]
