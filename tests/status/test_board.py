"""Uptime per VPC, region and workspace (time-weighted, summed over each group's endpoints, in
one query per grouping) on the board, the VPC page and the workspace page; the board's open
incidents, worst first and truly counted, and VPC-level incidents in their VPC's row."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from endpoints.network.models import Endpoint
from endpoints.probes.models import StatusChange
from endpoints.status.models import Incident, MaintenanceWindow, Scope
from endpoints.status.tasks import refresh_summaries
from endpoints.status.templatetags.status_tags import OPEN_LIMIT, open_incidents, vpc_rows

DAY = timedelta(days=1)


def flip(endpoint, at, status, previous="unknown"):
    StatusChange.objects.create(
        endpoint=endpoint, location="central", at=at, status=status, previous=previous
    )


def cells(html: str, attribute: str, value: str) -> dict[str, str]:
    """The uptime cells of the table row marked data-<attribute>="<value>"."""
    row = re.search(rf'<tr data-{attribute}="{re.escape(value)}">(.*?)</tr>', html, re.S)
    assert row, f"no row for {value}"
    return dict(re.findall(r'class="num uptime-(\w+)">([^<]*)<', row.group(1)))


def figures_in(html: str, marker: str) -> dict[str, str]:
    card = html[html.index(marker) :]
    return dict(re.findall(r'class="num uptime-(\w+)">([^<]*)<', card)[:4])


@pytest.fixture
def history(make_vpc, make_endpoint, workspace_a, workspace_b):
    """Two endpoints of VPC bj (workspace A), up for 100 days, except that the second went down
    10 days ago and had maintenance over the last 12 hours; a third, elsewhere, always down."""
    now = timezone.now()
    bj, other = make_vpc("vpc-bjuptime1"), make_vpc("vpc-other0001")
    steady = make_endpoint("steady", vpc=bj, workspace=workspace_a)
    broken = make_endpoint(
        "broken",
        url="http://ep-def456.dashscope.cn-beijing.privatelink.aliyuncs.com",
        vpc=bj,
        workspace=workspace_a,
    )
    elsewhere = make_endpoint(
        "elsewhere",
        url="http://ep-ghi789.dashscope.cn-beijing.privatelink.aliyuncs.com",
        vpc=other,
        workspace=workspace_b,
        region_id="cn-beijing",
    )
    for endpoint in (steady, broken):
        flip(endpoint, now - 100 * DAY, "up")
    flip(broken, now - 10 * DAY, "down", "up")
    flip(elsewhere, now - 100 * DAY, "down")
    MaintenanceWindow.objects.create(
        name="patch", endpoint=broken, starts_at=now - timedelta(hours=12), ends_at=now + DAY
    )
    refresh_summaries(Endpoint.objects.values_list("pk", flat=True))
    return bj, other


# By hand: 24 h: steady 24 h up, broken 12 h down (12 h maintenance) → 24 / 36; 7 d: 7 up of
# 7 + 6.5 known; 30 d: 30 + 20 up of 30 + 29.5; 90 d: 90 + 80 up of 90 + 89.5.
EXPECTED = {
    "24h": "66.67 %",
    "7d": f"{100 * 7 / 13.5:.2f} %",
    "30d": f"{100 * 50 / 59.5:.2f} %",
    "90d": f"{100 * 170 / 179.5:.2f} %",
}


def test_the_board_shows_each_vpcs_and_regions_uptime_over_four_windows(history, client_for, ops):
    html = client_for(ops).get("/probes/").content.decode()
    assert cells(html, "vpc", "vpc-bjuptime1") == EXPECTED
    assert cells(html, "vpc", "vpc-other0001") == dict.fromkeys(EXPECTED, "0.00 %")
    # The region holds all three: 24 h is 24 up of 24 + 12 + 24 known.
    assert cells(html, "region", "cn-beijing")["24h"] == "40.00 %"
    assert cells(html, "region", "cn-beijing")["90d"] == f"{100 * 170 / 269.5:.2f} %"


def test_the_vpc_page_shows_its_uptime(history, client_for, ops):
    bj, _ = history
    html = client_for(ops).get(f"/vpcs/{bj.pk}/").content.decode()
    assert figures_in(html, 'id="uptime"') == EXPECTED


def test_the_workspace_page_shows_its_uptime_and_links_its_sla(history, client_for, lead_a):
    html = client_for(lead_a).get("/workspaces/team-a/").content.decode()
    assert figures_in(html, 'id="uptime"') == EXPECTED
    assert 'href="/workspaces/team-a/sla/"' in html
    assert "/workspaces/team-a/sla/?month=" in html and "format=csv" in html
    listed = client_for(lead_a).get("/workspaces/").content.decode()
    assert 'href="/workspaces/team-a/sla/"' in listed


def test_a_vpc_incident_counts_in_its_vpcs_row(history, client_for, ops):
    bj, _ = history
    # "No agent": the VPC's own incident, with no endpoint; and one endpoint's incident.
    Incident.objects.create(scope=Scope.VPC, vpc=bj, status="unknown", diagnosis="no_agent")
    Incident.objects.create(endpoint=Endpoint.objects.get(name="elsewhere"), status="down")
    rows = {row["name"]: row["open"] for row in vpc_rows(ops, Endpoint.objects.all())}
    assert rows == {"vpc-bjuptime1": 1, "vpc-other0001": 1}
    html = client_for(ops).get("/probes/").content.decode()
    row = re.search(r'<tr data-vpc="vpc-bjuptime1">.*?class="num open">(.*?)</td>', html, re.S)
    assert ">1<" in row.group(1)


def test_open_incidents_are_worst_first_and_counted_in_full(
    make_vpc, make_endpoint, ops, client_for
):
    # More VPC-level ("unknown") incidents than the board shows, opened before the rest.
    long_ago = timezone.now() - DAY
    for n in range(OPEN_LIMIT + 5):
        vpc = make_vpc(f"vpc-silent{n:03d}")
        Incident.objects.create(
            scope=Scope.VPC, vpc=vpc, status="unknown", diagnosis="no_agent", opened_at=long_ago
        )
    degraded = Incident.objects.create(endpoint=make_endpoint("slow"), status="degraded")
    down = Incident.objects.create(
        endpoint=make_endpoint(
            "dead", url="http://ep-def456.dashscope.cn-beijing.privatelink.aliyuncs.com"
        ),
        status="down",
    )
    shown, count = open_incidents(ops)
    assert [shown[0].pk, shown[1].pk] == [down.pk, degraded.pk]  # down, then degraded
    assert len(shown) == OPEN_LIMIT and count == OPEN_LIMIT + 7
    html = client_for(ops).get("/probes/").content.decode()
    assert f'open-count">{OPEN_LIMIT + 7}<' in html
    assert html.index(f"incident-{down.pk}") < html.index(f"incident-{degraded.pk}")


def test_the_board_reads_uptime_in_the_same_queries_whatever_the_size(
    many_endpoints, make_vpc, client_for, ops
):
    many_endpoints(5)
    refresh_summaries(Endpoint.objects.values_list("pk", flat=True))
    client = client_for(ops)
    client.get("/probes/")
    with CaptureQueriesContext(connection) as small:
        client.get("/probes/")
    many_endpoints(95, start=5)
    for n, pk in enumerate(Endpoint.objects.order_by("pk").values_list("pk", flat=True)[50:]):
        Endpoint.objects.filter(pk=pk).update(vpc=make_vpc(f"vpc-spread{n:03d}"))
    refresh_summaries(Endpoint.objects.values_list("pk", flat=True))
    with CaptureQueriesContext(connection) as large:
        html = client.get("/probes/").content.decode()
    assert html.count("<tr data-vpc=") == 50
    assert len(large) == len(small), [q["sql"][:120] for q in large]
