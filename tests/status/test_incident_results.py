"""The incident page says how many results the incident spanned (its own counts, kept for
good) and lists the raw results still kept, the streak that opened it included, newest first
and paged, from real probes against the simulator."""

import re
from datetime import timedelta

from django.utils import timezone

from endpoints.devtools.simulator import Fault
from endpoints.probes.models import ProbeResult
from endpoints.status.models import Incident
from tests.probes.conftest import HOST, probe_now


def probe(endpoint, times=1):
    for _ in range(times):
        probe_now("--endpoint", str(endpoint.pk))


def summary(html: str) -> str:
    return re.search(r'class="[^"]*results-summary">([^<]*)<', html).group(1)


def test_the_page_counts_every_result_and_pages_the_kept_ones(probed, sim, client_for, ops):
    probe(probed)  # up
    sim.state.set_fault(host=HOST, fault=Fault(status=503))
    probe(probed, 3)  # the second opens the incident; the first belongs to its streak
    incident = Incident.objects.get()
    assert incident.results_total == 3
    client = client_for(ops)
    html = client.get(f"/incidents/{incident.pk}/").content.decode()
    assert summary(html) == "3 results counted (3 down or degraded), 3 still kept"
    assert html.count('<tr class="result">') == 3  # not the up result before it

    # Many more while it stays open: the newest 50 first, then the next pages.
    step = (timezone.now() - incident.opened_at) / 200
    ProbeResult.objects.bulk_create(
        ProbeResult(
            endpoint=probed,
            location="central",
            started_at=incident.opened_at + n * step,
            status="down",
            diagnosis="upstream_error",
            message="",
        )
        for n in range(1, 121)
    )
    html = client.get(f"/incidents/{incident.pk}/").content.decode()
    assert "123 still kept" in summary(html)
    assert html.count('<tr class="result">') == 50 and "1–50 of 123" in html
    last = client.get(f"/incidents/{incident.pk}/", {"page": 3}).content.decode()
    assert last.count('<tr class="result">') == 23
    assert client.get(f"/incidents/{incident.pk}/", {"page": "x"}).status_code == 200


def test_an_old_incident_still_says_how_many_results_it_spanned(probed, client_for, ops):
    opened = timezone.now() - timedelta(days=5)
    incident = Incident.objects.create(
        endpoint=probed,
        location="central",
        status="down",
        opened_at=opened,
        closed_at=opened + timedelta(hours=2),
        results_total=121,
        results_bad=120,
    )
    html = client_for(ops).get(f"/incidents/{incident.pk}/").content.decode()
    assert summary(html) == "121 results counted (120 down or degraded), 0 still kept"
    assert "older ones of this incident are pruned" in html
    assert "No raw result of it is kept any more." in html
