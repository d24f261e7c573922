"""The bill import pages: upload, preview, mapping, confirmation; strange files refused."""

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from portal.costs import bills
from portal.costs.models import BillImport, UsageRecord
from tests.costs.conftest import bill_csv, bill_row


def upload(client, content, name="bill.csv"):
    return client.post("/costs/bills/", {"file": SimpleUploadedFile(name, content, "text/csv")})


def test_an_upload_shows_its_preview_and_imports_nothing(client_for, admin, workspace_a):
    client = client_for(admin)
    response = upload(
        client,
        bill_csv(
            [bill_row(workspace_a, amount="1.25"), bill_row("llm-elsewhere0001", amount="2")],
            lang="zh",
        ),
    )
    assert response.status_code == 302
    page = client.get(response["Location"]).content.decode()
    assert "Rows that do not map (1)" in page and "llm-elsewhere0001 is not registered" in page
    assert "Every row must map first" in page
    assert re.search(
        r'<button class="btn btn-primary" type="submit" disabled>Import</button>', page
    )
    assert UsageRecord.objects.count() == 0


def test_a_file_that_maps_can_be_confirmed_and_says_when_the_queue_is_down(
    client_for, admin, workspace_a, broker_down
):
    client = client_for(admin)
    location = upload(client, bill_csv([bill_row(workspace_a, amount="1.25")]))["Location"]
    page = client.get(location).content.decode()
    assert "Import 1 row (all or nothing)" in page
    bill_import = BillImport.objects.get()
    response = client.post(f"/costs/bills/{bill_import.pk}/confirm/", follow=True)
    assert "The task queue is not reachable" in response.content.decode()
    bill_import.refresh_from_db()
    assert bill_import.status == "preview" and UsageRecord.objects.count() == 0


def test_unknown_columns_are_asked_for_then_the_preview_is_made_again(
    client_for, admin, workspace_a
):
    client = client_for(admin)
    content = f"Day,Where,Money\n2026-03-01,1;{workspace_a.workspace_id};qwen-plus;input_token;api,1.10\n".encode()
    location = upload(client, content)["Location"]
    page = client.get(location).content.decode()
    assert "Say which column is which" in page and "Not recognised" in page
    bill_import = BillImport.objects.get()
    client.post(
        f"/costs/bills/{bill_import.pk}/mapping/",
        {"date": "Day", "instance_id": "Where", "amount": "Money"},
    )
    bill_import.refresh_from_db()
    assert bill_import.can_confirm and bill_import.preview["new_rows"] == 1
    response = client.post(
        f"/costs/bills/{bill_import.pk}/mapping/", {"amount": "<script>"}, follow=True
    )
    assert "Choose columns the file has" in response.content.decode()


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "The submitted file is empty."),
        (b"PK\x03\x04xxxx", "Excel workbook"),
        (b"a,b\x00,c\n", "NUL bytes"),
        (b"\xff\xfe\x00\xd8\x00", "neither UTF-8 nor GB18030"),
    ],
)
def test_strange_files_are_refused_next_to_the_field(client_for, admin, content, message):
    response = upload(client_for(admin), content)
    assert response.status_code == 422
    assert message in response.content.decode()
    assert BillImport.objects.count() == 0


def test_a_file_over_50_mb_is_refused_before_it_is_read(client_for, admin):
    response = client_for(admin).post(
        "/costs/bills/",
        data=b"x",
        content_type="multipart/form-data; boundary=x",
        CONTENT_LENGTH=str(bills.MAX_BYTES + 5 * 1024 * 1024),
    )
    assert response.status_code == 422 and "larger than 50 MB" in response.content.decode()


def test_a_file_just_over_50_mb_is_refused_by_its_size(client_for, admin, settings):
    content = b"x" * (bills.MAX_BYTES + 1)
    response = upload(client_for(admin), content)
    assert response.status_code == 422 and "larger than 50 MB" in response.content.decode()


def test_the_unmapped_rows_download_lists_every_one(client_for, admin, workspace_a):
    client = client_for(admin)
    rows = [bill_row(f"llm-missing{n:05d}", amount="1") for n in range(1200)]
    upload(client, bill_csv(rows))
    bill_import = BillImport.objects.get()
    assert (
        len(bill_import.preview["problems"]) == 1000
        and bill_import.preview["unmapped_rows"] == 1200
    )
    lines = client.get(f"/costs/bills/{bill_import.pk}/unmapped.csv").content.decode().splitlines()
    assert lines[0] == "row,reason" and len(lines) == 1201


def test_the_progress_fragment_polls_while_it_runs(client_for, admin, workspace_a):
    from portal.costs import services

    client = client_for(admin)
    upload(client, bill_csv([bill_row(workspace_a, amount="1.25")]))
    bill_import = BillImport.objects.get()
    services.confirm_bill_import(bill_import, actor=admin, enqueue=lambda _: None)
    BillImport.objects.filter(pk=bill_import.pk).update(status="importing", total=10, done=4)
    fragment = client.get(f"/costs/bills/{bill_import.pk}/progress/").content.decode()
    assert "Importing 4 / 10 rows" in fragment and 'hx-trigger="every 1s"' in fragment
    assert '<progress class="bill-progress flex-grow-1" max="100" value="40"' in fragment
    services.run_bill_import(bill_import.pk)
    done = client.get(f"/costs/bills/{bill_import.pk}/progress/").content.decode()
    assert "Imported 1 row" in done and "hx-trigger" not in done


def test_price_pages_add_and_change_a_price_and_recost(client_for, admin, workspace_a, ingest):
    from datetime import date

    from portal.costs.models import ModelPrice
    from tests.costs.conftest import usage_row

    ingest(usage_row(workspace_a, date(2026, 4, 2), tokens_in=1_000_000))
    client = client_for(admin)
    assert "in force" in client.get("/costs/prices/").content.decode()
    base = ModelPrice.objects.get(model__name="qwen-plus", region_id="cn-beijing")
    form = client.get(f"/costs/prices/new/?from={base.pk}").content.decode()
    assert "131072 2.4 20" in form  # the tiers, one per line
    data = {
        "model": base.model_id,
        "region": "cn-beijing",
        "currency": "",
        "effective_from": "2026-04-01",
        "input_per_million": "1.10",
        "output_per_million": "2.00",
        "tiers": "131072 2.4 20\n262144 4.8 48",
        "batch_ratio": "0.5",
        "cache_hit_ratio": "0.2",
    }
    response = client.post("/costs/prices/new/", data, follow=True)
    assert "Re-costed 1 usage record" in response.content.decode()
    assert UsageRecord.objects.get().cost.normalize() == __import__("decimal").Decimal("1.1")
    bad = client.post(
        "/costs/prices/new/",
        {**data, "effective_from": "2026-04-02", "tiers": "lots 1 2", "currency": "USD"},
    )
    assert bad.status_code == 422
    text = bad.content.decode()
    assert "Line 1: write the input tokens" in text
    assert ModelPrice.objects.filter(effective_from=date(2026, 4, 2)).count() == 0
    duplicate = client.post("/costs/prices/new/", data)
    assert duplicate.status_code == 422 and "already exists" in duplicate.content.decode()
