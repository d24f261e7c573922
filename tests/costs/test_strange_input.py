"""No input, however strange, gets a 500: NUL characters (PostgreSQL refuses them in text),
huge numbers, negative tokens, wrong types. Each is refused with a reason, or not found."""

import pytest

from portal.costs.models import BillImport, ModelPrice, UsageRecord
from tests.costs.conftest import bill_csv, bill_row, usage_row


@pytest.mark.parametrize(
    "path",
    [
        "/costs/?workspace=" + "x" * 500,
        "/costs/?workspace=team-a'--",
        "/costs/reconciliation/?workspace=%E2%80%AE&month=2026-03",
    ],
)
def test_a_page_asked_for_a_workspace_that_cannot_exist_answers_404(client_for, admin, path):
    assert client_for(admin).get(path).status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "/costs/?workspace=%00",
        "/costs/?workspace=team-a%00",
        "/costs/reconciliation/?workspace=%00&month=2026-03",
        "/costs/?range=custom&start=%00&end=2026-03-01",
        "/costs/workspaces/team-a/?table=%00&format=%00",
    ],
)
def test_a_nul_in_a_page_query_is_a_400_that_says_so(client_for, admin, workspace_a, path):
    response = client_for(admin).get(path)
    assert response.status_code == 400 and b"Null characters" in response.content


@pytest.mark.parametrize(
    "query",
    [
        "?range=custom&start=yesterday&end=2026-03-01",
        "?range=fortnight",
        "?month=2026-13",
        "?range=custom&start=2026-03-01&end=2026-02-30",
        "?table=everything&format=pdf",
    ],
)
def test_strange_ranges_show_this_month(client_for, admin, workspace_a, query):
    assert client_for(admin).get(f"/costs/{query}").status_code == 200
    assert client_for(admin).get(f"/costs/workspaces/team-a/{query}").status_code == 200


def test_the_api_refuses_nul_characters_without_a_500(api_client, admin, workspace_a):
    api = api_client(admin)
    assert (
        api.get("/api/v1/costs", start="2026-03-01", end="2026-03-31", workspace="\x00").status_code
        == 400
    )
    assert api.get("/api/v1/prices", model="qwen\x00").status_code == 400
    response = api.post(
        "/api/v1/prices",
        {
            "model": "qwen\x00",
            "region": "cn-beijing",
            "input_per_million": "1",
            "output_per_million": "1",
            "effective_from": "2026-04-01",
        },
    )
    assert response.status_code == 400 and "Null" in response.json()["errors"]["model"][0]
    rows = [
        usage_row(workspace_a, "2026-03-03", tokens_in=1),
        {**usage_row(workspace_a, "2026-03-03"), "workspace": "team\x00a", "model": "\x00"},
    ]
    response = api.post("/api/v1/usage", rows)
    assert response.status_code == 400
    assert {e["field"] for e in response.json()["errors"]} >= {"workspace", "model"}
    assert UsageRecord.objects.count() == 0


def test_huge_or_odd_numbers_in_a_price_are_refused(api_client, admin, db):
    for value in ("1" * 400, "1e-400", "Infinity", "NaN", [], {"a": 1}, True):
        response = api_client(admin).post(
            "/api/v1/prices",
            {
                "model": "qwen-plus",
                "region": "cn-beijing",
                "input_per_million": value,
                "output_per_million": "1",
                "effective_from": "2026-04-01",
            },
        )
        assert response.status_code == 400, (value, response.content)
    assert not ModelPrice.objects.filter(effective_from="2026-04-01").exists()


def test_an_uploaded_file_name_with_control_characters_is_cleaned(client_for, admin, workspace_a):
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("bill\x07\x1b.csv", bill_csv([bill_row(workspace_a)]), "text/csv")
    response = client_for(admin).post("/costs/bills/", {"file": upload})
    assert response.status_code == 302
    assert BillImport.objects.get().filename == "bill.csv"
