"""Which locations probe each endpoint, kept in line with the registry.

- An endpoint without a VPC, or in a VPC probed by the central workers: "central".
- In a VPC probed by agents: that VPC (the primary location); and, for private kinds, every
  VPC joined to it by CEN whose own agents probe, so the board shows where a path works and
  where it fails.
- A disabled endpoint has no schedule at all (nothing probes it).
"""

from django.db import transaction
from django.dispatch import receiver
from django.utils import timezone

from endpoints.network.choices import PRIVATE_KINDS, ProbedBy
from endpoints.network.models import Endpoint, Vpc
from endpoints.network.signals import endpoints_changed

from .models import CENTRAL, ProbeSchedule


def locations_for(endpoint: Endpoint) -> list[tuple[str, Vpc | None, bool]]:
    """(location, probing VPC, primary) for each place `endpoint` is probed from."""
    if not endpoint.enabled:
        return []
    vpc = endpoint.vpc if endpoint.vpc_id else None
    if vpc is None or vpc.probed_by != ProbedBy.AGENTS:
        return [(CENTRAL, None, True)]
    places = [(vpc.vpc_id, vpc, True)]
    if endpoint.kind in PRIVATE_KINDS:
        for other in vpc.connected_vpcs.all():
            if other.probed_by == ProbedBy.AGENTS:
                places.append((other.vpc_id, other, False))
    return places


@transaction.atomic
def sync(endpoint_ids, *, reprobe: bool = True) -> None:
    """Create, keep or delete the schedules of `endpoint_ids` to match where they are probed
    from now; `reprobe`: the kept ones are due at once (the change may alter the verdict)."""
    endpoints = Endpoint.objects.filter(pk__in=list(endpoint_ids)).select_related("vpc")
    endpoints = endpoints.prefetch_related("vpc__connected_vpcs")
    existing: dict[tuple[int, str], ProbeSchedule] = {
        (s.endpoint_id, s.location): s
        for s in ProbeSchedule.objects.filter(endpoint_id__in=list(endpoint_ids))
    }
    wanted: set[tuple[int, str]] = set()
    create, update = [], []
    now = timezone.now()
    for endpoint in endpoints:
        for location, vpc, primary in locations_for(endpoint):
            wanted.add((endpoint.pk, location))
            schedule = existing.get((endpoint.pk, location))
            if schedule is None:
                create.append(
                    ProbeSchedule(
                        endpoint=endpoint,
                        location=location,
                        vpc=vpc,
                        primary=primary,
                        next_probe_at=now,
                    )
                )
            elif schedule.primary != primary or (reprobe and schedule.next_probe_at > now):
                schedule.primary = primary
                if reprobe:
                    schedule.next_probe_at = now
                update.append(schedule)
    stale = [s.pk for key, s in existing.items() if key not in wanted]
    if stale:
        ProbeSchedule.objects.filter(pk__in=stale).delete()
    ProbeSchedule.objects.bulk_create(create)
    ProbeSchedule.objects.bulk_update(update, ["primary", "next_probe_at"])


def sync_missing() -> int:
    """Schedules for enabled endpoints that have none yet (a safety net beside the signal,
    e.g. for rows written outside the services); returns how many endpoints were planned."""
    ids = list(
        Endpoint.objects.filter(enabled=True)
        .exclude(schedules__primary=True)
        .values_list("pk", flat=True)[:5000]
    )
    if ids:
        sync(ids, reprobe=False)
    return len(ids)


@receiver(endpoints_changed, dispatch_uid="probes-sync-schedules")
def _endpoints_changed(sender, endpoint_ids, **kwargs):
    sync(endpoint_ids, reprobe=True)
