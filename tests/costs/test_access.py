"""Who sees which costs: a lead of workspace A gets 404 or 403 for workspace B on every page,
export and API route of the costs; ops see no costs at all; admins see everything."""

from datetime import date

import pytest

from portal.costs import services
from tests.costs.conftest import bill_csv, bill_row, usage_row

MARCH = "range=custom&start=2026-03-01&end=2026-03-31"


@pytest.fixture
def world(workspace_a, workspace_b, lead_a, lead_b, ingest, import_bill):
    ingest(
        usage_row(workspace_a, date(2026, 3, 2), tokens_in=1_000_000),
        usage_row(workspace_b, date(2026, 3, 2), tokens_in=7_777_777),
    )
    import_bill(bill_csv([bill_row(workspace_b, day="2026-03-02", amount="7.77", usage="7777777")]))
    bill_import = services.upload_bill(
        bill_csv([bill_row(workspace_b, day="2026-03-09", amount="1.00")]), "b.csv", actor=None
    )
    from portal.costs.models import ModelPrice

    return {"bill": bill_import.pk, "price": ModelPrice.objects.first().pk}


# Every route that could show or change workspace B's costs, and what lead A gets.
PAGES_FOR_B = [
    ("get", "/costs/?workspace=team-b", 404),
    ("get", f"/costs/?workspace=team-b&{MARCH}&format=csv", 404),
    ("get", f"/costs/?workspace=team-b&{MARCH}&format=csv&table=models", 404),
    ("get", "/costs/workspaces/team-b/", 404),
    ("get", f"/costs/workspaces/team-b/?{MARCH}&table=keys", 404),
    ("get", f"/costs/workspaces/team-b/?{MARCH}&format=csv&table=models", 404),
    ("get", f"/costs/workspaces/team-b/?{MARCH}&format=csv&table=keys", 404),
    ("get", f"/costs/workspaces/team-b/?{MARCH}&format=csv&table=days", 404),
    ("get", "/costs/reconciliation/?month=2026-03&workspace=team-b", 404),
    ("get", "/costs/reconciliation/?month=2026-03&workspace=team-b&format=csv", 404),
    # An admin's upload (of B's rows) is not lead A's to see: not found.
    ("get", "/costs/bills/{bill}/", 404),
    ("post", "/costs/bills/{bill}/mapping/", 404),
    ("post", "/costs/bills/{bill}/confirm/", 404),
    ("get", "/costs/bills/{bill}/progress/", 404),
    ("get", "/costs/bills/{bill}/unmapped.csv", 404),
    ("get", "/costs/prices/new/", 403),
    ("get", "/costs/prices/{price}/edit/", 403),
    ("post", "/costs/prices/{price}/edit/", 403),
    ("post", "/costs/prices/{price}/delete/", 403),
]


@pytest.mark.parametrize("method, path, status", PAGES_FOR_B)
def test_a_lead_of_a_gets_404_or_403_for_b_on_every_page_and_export(
    client_for, lead_a, world, method, path, status
):
    response = getattr(client_for(lead_a), method)(path.format(**world))
    assert response.status_code == status
    assert b"7.77" not in response.content and b"7,777,777" not in response.content


def test_a_lead_of_a_gets_404_or_403_for_b_on_every_api_route(
    api_client, lead_a, world, workspace_b
):
    api = api_client(lead_a)
    assert (
        api.get(
            "/api/v1/costs", start="2026-03-01", end="2026-03-31", workspace="team-b"
        ).status_code
        == 404
    )
    row = usage_row(workspace_b, date(2026, 3, 3), tokens_in=1)
    assert api.post("/api/v1/usage", [row]).status_code == 403
    assert (
        api.post("/api/v1/prices", {"model": "qwen-plus", "region": "ap-southeast-1"}).status_code
        == 403
    )
    everything = api.get("/api/v1/costs", start="2026-03-01", end="2026-03-31")
    assert [w["slug"] for w in everything.json()["workspaces"]] == ["team-a"]
    assert everything.json()["totals"]["USD"] == "0.000000"
    reconciled = api.get("/api/v1/costs/reconciliation", month="2026-03").json()
    assert {r["slug"] for r in reconciled} == {"team-a"}


def test_the_unfiltered_pages_of_a_lead_show_none_of_b(client_for, lead_a, world):
    client = client_for(lead_a)
    for path in (
        f"/costs/?{MARCH}",
        f"/costs/?{MARCH}&format=csv",
        f"/costs/?{MARCH}&format=csv&table=models",
        "/costs/reconciliation/?month=2026-03",
        "/costs/reconciliation/?month=2026-03&format=csv",
    ):
        response = client.get(path)
        assert response.status_code == 200
        assert b"Team B" not in response.content and b"team-b" not in response.content, path
        assert b"7.77" not in response.content


def test_a_lead_imports_the_bill_of_their_own_workspaces_only(
    client_for, lead_a, workspace_a, workspace_b, world
):
    """A row of another team's workspace stops a lead's import, worded as for a workspace
    that does not exist (nothing learnt of team B); their own rows import."""
    from portal.costs.models import BillImport, BillLine

    client = client_for(lead_a)
    assert client.get("/costs/bills/").status_code == 200
    assert b"b.csv" not in client.get("/costs/bills/").content  # the admin's upload
    mixed = bill_csv(
        [
            bill_row(workspace_a, day="2026-03-04", amount="1.25"),
            bill_row(workspace_b, day="2026-03-04", amount="9.99"),
        ]
    )
    response = client.post("/costs/bills/", {"file": _upload("mixed.csv", mixed)})
    assert response.status_code == 302
    mixed_import = BillImport.objects.get(filename="mixed.csv")
    page = client.get(response["Location"]).content.decode()
    assert "is not one you lead" in page and workspace_b.workspace_id in page
    assert "Team B" not in page and "team-b" not in page
    client.post(f"/costs/bills/{mixed_import.pk}/confirm/")
    mixed_import.refresh_from_db()
    assert mixed_import.status == "preview"  # refused: nothing queued
    unknown = bill_csv([bill_row("llm-nobody000", day="2026-03-04", amount="1")])
    response = client.post("/costs/bills/", {"file": _upload("unknown.csv", unknown)})
    assert "is not one you lead" in client.get(response["Location"]).content.decode()

    own = bill_csv([bill_row(workspace_a, day="2026-03-04", amount="1.25")])
    response = client.post("/costs/bills/", {"file": _upload("own.csv", own)})
    own_import = BillImport.objects.get(filename="own.csv")
    assert own_import.can_confirm and own_import.uploaded_by == lead_a
    queued = []
    assert services.confirm_bill_import(own_import, actor=lead_a, enqueue=queued.append)
    services.run_bill_import(queued[0])  # the worker's task body
    own_import.refresh_from_db()
    assert own_import.status == "done"
    assert not BillLine.objects.filter(workspace=workspace_b, bill_import=own_import).exists()


def _upload(name, content):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, content, "text/csv")


COST_PAGES = [
    "/costs/",
    "/costs/workspaces/team-a/",
    "/costs/reconciliation/",
    "/costs/prices/",
    "/costs/bills/",
    "/costs/prices/new/",
]


@pytest.mark.parametrize("path", COST_PAGES)
def test_ops_see_no_costs(client_for, ops, workspace_a, path):
    assert client_for(ops).get(path).status_code == 403


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/costs?start=2026-03-01&end=2026-03-31",
        "/api/v1/prices",
        "/api/v1/costs/reconciliation?month=2026-03",
    ],
)
def test_ops_get_no_costs_from_the_api(api_client, ops, path):
    base, _, query = path.partition("?")
    params = dict(p.split("=") for p in query.split("&")) if query else {}
    assert api_client(ops).get(base, **params).status_code == 403


@pytest.mark.parametrize("path", COST_PAGES)
def test_admins_see_every_cost_page(client_for, admin, workspace_a, path):
    assert client_for(admin).get(path).status_code == 200


def test_anonymous_visitors_are_sent_to_sign_in(client_for, workspace_a):
    assert client_for(None).get("/costs/").status_code == 302
