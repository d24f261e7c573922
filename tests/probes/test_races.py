"""Two dispatchers, or two recorders, really racing: the guards hold.

Meant for PostgreSQL (CI's second pass), where the threads' transactions overlap; remove a
guard (the claim's "still due and not leased", the recorder's newest-result check) and these fail.
"""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from endpoints.engine import ProbeOutcome
from endpoints.network.models import Endpoint
from endpoints.probes import dispatch, recorder
from endpoints.probes.models import ProbeSchedule
from tests.races import race

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def test_two_dispatchers_at_once_never_claim_an_endpoint_twice(many_endpoints):
    many_endpoints(300)
    ProbeSchedule.objects.update(next_probe_at=timezone.now() - timedelta(seconds=1))
    claims = race(4, lambda i: [pk for pk, _ in dispatch.claim_central()[1]])
    assert not any(isinstance(c, BaseException) for c in claims), claims
    claimed = [pk for claim in claims for pk in claim]
    assert len(claimed) == len(set(claimed)) == 300  # each endpoint once, none left behind


def test_an_older_result_recorded_last_never_overwrites_a_newer_one(many_endpoints):
    many_endpoints(40)
    Endpoint.objects.update(last_probe_at=None, status="unknown")
    ProbeSchedule.objects.update(last_probe_at=None, status="unknown")
    now = timezone.now()

    def observations(status, age_s):
        return [
            recorder.Observation(
                endpoint_id=pk,
                outcome=ProbeOutcome(
                    status=status,
                    diagnosis="ok" if status == "up" else "tcp_timeout",
                    message=status,
                    endpoint_id=pk,
                    started_at=now - timedelta(seconds=age_s),
                ),
                location="central",
                source="manual",
            )
            for pk in Endpoint.objects.values_list("pk", flat=True)
        ]

    newer, older = observations("up", 1), observations("down", 30)  # older: redelivered late

    def record(i):
        if i == 1:
            time.sleep(0.3)  # the older results land while, or just after, the newer commit
        return recorder.record([newer, older][i])

    results = race(2, record)
    assert not any(isinstance(r, BaseException) for r in results), results
    assert set(Endpoint.objects.values_list("status", flat=True)) == {"up"}
    assert set(ProbeSchedule.objects.values_list("status", flat=True)) == {"up"}
    assert Endpoint.objects.filter(last_probe_at=now - timedelta(seconds=1)).count() == 40
