"""The dispatcher's part: which endpoints are due, claimed so that no two dispatchers (or a
dispatcher and a manual run) probe one twice in an interval."""

import uuid
from collections import defaultdict
from datetime import timedelta

from django.utils import timezone

from endpoints.network.models import Endpoint


def claim_due(limit: int = 10_000) -> list[int]:
    """Claim the endpoints that are due with a conditional update: two dispatchers never
    claim the same endpoint, and each claimed endpoint's next probe is set at once."""
    now = timezone.now()
    due = (
        Endpoint.objects.due(now).order_by("next_probe_at").values_list("pk", "interval_s")[:limit]
    )
    by_interval: dict[int, list[int]] = defaultdict(list)
    for pk, interval in due:
        by_interval[interval].append(pk)
    if not by_interval:
        return []
    claim = uuid.uuid4()
    for interval, ids in by_interval.items():
        Endpoint.objects.filter(pk__in=ids, next_probe_at__lte=now).update(
            probe_claim=claim, next_probe_at=now + timedelta(seconds=interval)
        )
    return list(Endpoint.objects.filter(probe_claim=claim).values_list("pk", flat=True))


def release(endpoint_ids) -> None:
    """Make endpoints due again (their probes could not be queued)."""
    Endpoint.objects.filter(pk__in=endpoint_ids).update(next_probe_at=timezone.now())
