"""The endpoint registry list: filters, sorting, pages and a flat query count."""

from django.db import connection
from django.test.utils import CaptureQueriesContext


def test_the_list_costs_the_same_queries_for_5_or_50_rows(client_for, admin, many_endpoints):
    client = client_for(admin)
    many_endpoints(5)
    with CaptureQueriesContext(connection) as five:
        client.get("/endpoints/")
    many_endpoints(45, start=5)
    with CaptureQueriesContext(connection) as fifty:
        response = client.get("/endpoints/")
    assert len(fifty.captured_queries) == len(five.captured_queries)
    assert response.content.decode().count('href="/endpoints/') >= 50


def test_the_list_paginates_and_sorts(client_for, admin, many_endpoints):
    many_endpoints(120)
    client = client_for(admin)
    html = client.get("/endpoints/").content.decode()
    assert "1–50 of 120" in html and "endpoint 0000" in html and "endpoint 0050" not in html
    html = client.get("/endpoints/?page=3").content.decode()
    assert "101–120 of 120" in html
    html = client.get("/endpoints/?sort=-latency").content.decode()
    assert html.index("endpoint 0119") < html.index("endpoint 0118")
    assert "Latency ▼" in html


def test_the_list_filters_and_searches(client_for, admin, many_endpoints):
    many_endpoints(30)
    client = client_for(admin)
    html = client.get("/endpoints/?status=down").content.decode()
    assert html.count('<span class="status status-down"') == 10
    html = client.get("/endpoints/?q=0007").content.decode()
    assert "endpoint 0007" in html and "endpoint 0008" not in html
    html = client.get("/endpoints/?q=ep-many0012").content.decode()  # by domain too
    assert "endpoint 0012" in html
    html = client.get("/endpoints/?region=ap-southeast-1").content.decode()
    assert "No endpoint matches" in html


def test_htmx_gets_the_table_fragment(client_for, admin, many_endpoints):
    many_endpoints(3)
    html = client_for(admin).get("/endpoints/?status=up", HTTP_HX_REQUEST="true").content.decode()
    assert html.lstrip().startswith('<div id="endpoint-table"') and "<nav" not in html


def test_an_empty_registry_says_what_to_do(client_for, admin, ops):
    assert "Register an endpoint" in client_for(admin).get("/endpoints/").content.decode()
    html = client_for(ops).get("/endpoints/").content.decode()
    assert "No endpoints registered" in html and "Register an endpoint" not in html


def test_status_sorts_by_severity(client_for, admin, many_endpoints):
    many_endpoints(6)
    html = client_for(admin).get("/endpoints/?sort=status").content.decode()
    first_down, first_degraded, first_up = (
        html.index(f'status-{s}"') for s in ("down", "degraded", "up")
    )
    assert first_down < first_degraded < first_up


def test_the_list_filters_by_diagnosis_from_the_board(client_for, ops, many_endpoints):
    many_endpoints(9)
    client = client_for(ops)
    assert 'href="/endpoints/?diagnosis=tcp_timeout"' in client.get("/probes/").content.decode()
    html = client.get("/endpoints/?diagnosis=tcp_timeout").content.decode()
    assert html.count('<span class="status status-down"') == 3 and 'status-degraded"' not in html
