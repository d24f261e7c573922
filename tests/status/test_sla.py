"""The monthly SLA report of a workspace, page and CSV: the same figures, hand-computed."""

import csv
import io
import re
from datetime import UTC, datetime, timedelta

from endpoints.probes.models import StatusChange
from endpoints.status.models import Incident, MaintenanceWindow

MARCH = datetime(2026, 3, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)


def flip(endpoint, at, status, previous):
    StatusChange.objects.create(
        endpoint=endpoint, location="central", at=at, status=status, previous=previous
    )


def test_the_sla_csv_matches_the_page(make_endpoint, workspace_a, workspace_b, client_for, lead_a):
    endpoint = make_endpoint("=risky name", workspace=workspace_a)
    other = make_endpoint(
        "not theirs",
        url="http://ep-def456.dashscope.cn-beijing.privatelink.aliyuncs.com",
        workspace=workspace_b,
    )
    flip(endpoint, MARCH - 10 * HOUR, "up", "unknown")
    flip(endpoint, MARCH + 100 * HOUR, "down", "up")  # down 6 h, of which 1 h is maintenance
    flip(endpoint, MARCH + 106 * HOUR, "up", "down")
    flip(other, MARCH, "down", "unknown")
    MaintenanceWindow.objects.create(
        name="m", endpoint=endpoint, starts_at=MARCH + 105 * HOUR, ends_at=MARCH + 107 * HOUR
    )
    Incident.objects.create(
        endpoint=endpoint,
        status="down",
        opened_at=MARCH + 100 * HOUR,
        closed_at=MARCH + 106 * HOUR,
    )
    Incident.objects.create(endpoint=endpoint, status="down", opened_at=MARCH - HOUR)  # February
    client = client_for(lead_a)

    response = client.get("/workspaces/team-a/sla/", {"month": "2026-03", "format": "csv"})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert 'filename="sla-team-a-2026-03.csv"' in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == [
        "endpoint",
        "uptime_percent",
        "downtime_minutes",
        "known_minutes",
        "incidents",
    ]
    # March: 31 days, 2 h of them maintenance, 5 h down: known 44,520 min, down 300 min.
    known = 31 * 24 * 60 - 120
    percent = f"{100 * (known - 300) / known:.3f}"
    assert rows[1:] == [
        ["'=risky name", percent, "300.0", f"{known:.1f}", "1"],  # no formula for a spreadsheet
        ["TOTAL", percent, "300.0", f"{known:.1f}", "1"],
    ]

    page = client.get("/workspaces/team-a/sla/", {"month": "2026-03"}).content.decode()
    assert "not theirs" not in page
    assert f"{percent} %" in page
    row = re.search(r"<tr><td>=risky name</td>(.*?)</tr>", page, re.S).group(1)
    assert re.findall(r'<td class="num">([^<]*)</td>', row) == [
        f"{percent} %",
        "300",
        f"{known / 60:.0f}",
        "1",
    ]
    assert "?month=2026-03&format=csv" in page
