"""Two dispatchers, or two recorders, really racing: the guards hold.

Meant for PostgreSQL (CI's second pass), where the threads' transactions overlap; remove a
guard (the claim's `next_probe_at <= now`, the recorder's newest-result check) and these fail.
"""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from endpoints.engine import ProbeOutcome
from endpoints.network.models import Endpoint
from endpoints.probes import dispatch, runner
from tests.races import race

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def test_two_dispatchers_at_once_never_claim_an_endpoint_twice(many_endpoints):
    many_endpoints(300)
    Endpoint.objects.update(next_probe_at=timezone.now() - timedelta(seconds=1))
    claims = race(4, lambda i: dispatch.claim_due())
    assert not any(isinstance(c, BaseException) for c in claims), claims
    claimed = [pk for claim in claims for pk in claim]
    assert len(claimed) == len(set(claimed)) == 300  # each endpoint once, none left behind


def test_an_older_result_recorded_last_never_overwrites_a_newer_one(many_endpoints):
    many_endpoints(40)
    Endpoint.objects.update(last_probe_at=None, status="unknown")
    endpoints = list(Endpoint.objects.select_related("workspace", "workspace__region"))
    now = timezone.now()

    def outcome(endpoint, status, age_s):
        return ProbeOutcome(
            status=status,
            diagnosis="ok" if status == "up" else "tcp_timeout",
            message=status,
            endpoint_id=endpoint.pk,
            started_at=now - timedelta(seconds=age_s),
        )

    newer = [outcome(e, "up", 1) for e in endpoints]
    older = [outcome(e, "down", 30) for e in endpoints]  # e.g. a batch redelivered late

    def record(i):
        if i == 1:
            time.sleep(0.3)  # the older results land while, or just after, the newer commit
        return runner.record(endpoints, [newer, older][i])

    results = race(2, record)
    assert not any(isinstance(r, BaseException) for r in results), results
    statuses = set(Endpoint.objects.values_list("status", flat=True))
    assert statuses == {"up"}
    assert Endpoint.objects.filter(last_probe_at=now - timedelta(seconds=1)).count() == 40
