"""Where a path works and where it fails: one endpoint seen from its own VPC and from the VPCs
joined to it by CEN, and what to check when the two disagree."""

from dataclasses import dataclass

from django.db.models import Count, Min

from endpoints.network.choices import Status

from .models import ProbeSchedule

# What to check from a connected VPC, by what failed there (worded for ops).
ADVICE = {
    "tcp_timeout": "check the endpoint's security group allows {cidr} ({vpc}'s CIDR) on 80/443, "
    "and that the transit router routes {vpc} to the endpoint's VPC",
    "tcp_refused": "check the route from {vpc} to the endpoint's VPC over CEN",
    "dns_nxdomain": "add the Private DNS zone for the domain to {vpc} (CNAME @ → the endpoint's "
    "default domain, no underscores)",
    "private_dns_cname_mismatch": "point {vpc}'s Private DNS record at the endpoint's default "
    "domain",
    "resolves_public": "give {vpc} a Private DNS record for the domain: it resolves publicly there",
    "dns_timeout": "check {vpc}'s resolver",
}


@dataclass
class PathFinding:
    endpoint_id: int
    endpoint_name: str
    works_at: str
    fails_at: str
    status: str
    diagnosis: str
    sentence: str


def finding(primary: ProbeSchedule, other: ProbeSchedule) -> PathFinding | None:
    """A sentence when one location works and the other does not; None when they agree."""
    good, bad = (primary, other) if primary.status == Status.UP else (other, primary)
    if good.status != Status.UP or bad.status not in {Status.DOWN, Status.DEGRADED}:
        return None
    inside = "inside" if good.primary else "from connected"
    where = "inside" if bad.primary else "from connected"
    vpc = bad.vpc
    advice = ADVICE.get(
        bad.diagnosis, "compare the two VPCs' DNS records, routes and security groups"
    )
    advice = advice.format(vpc=bad.location, cidr=vpc.cidr if vpc else "its CIDR")
    sentence = (
        f"Works {inside} {good.location}, {bad.diagnosis.replace('_', ' ')} {where} {bad.location}: "
        f"{advice}."
    )
    return PathFinding(
        endpoint_id=primary.endpoint_id,
        endpoint_name=primary.endpoint.name,
        works_at=good.location,
        fails_at=bad.location,
        status=bad.status,
        diagnosis=bad.diagnosis,
        sentence=sentence,
    )


def findings_for(schedules) -> list[PathFinding]:
    """The disagreements among one endpoint's schedules (primary against each other)."""
    schedules = list(schedules)
    primary = next((s for s in schedules if s.primary), None)
    if primary is None:
        return []
    return [f for s in schedules if not s.primary if (f := finding(primary, s)) is not None]


def differing_paths(endpoints, limit: int = 50) -> list[PathFinding]:
    """For the board: endpoints whose locations disagree, worst first (two queries)."""
    secondary = ProbeSchedule.objects.filter(primary=False, endpoint__in=endpoints)
    ids = list(secondary.values_list("endpoint_id", flat=True).distinct()[: limit * 4])
    rows = (
        ProbeSchedule.objects.filter(endpoint_id__in=ids)
        .select_related("endpoint", "vpc")
        .order_by("endpoint_id", "-primary")
    )
    by_endpoint: dict[int, list] = {}
    for row in rows:
        by_endpoint.setdefault(row.endpoint_id, []).append(row)
    found = [f for group in by_endpoint.values() for f in findings_for(group)]
    return sorted(found, key=lambda f: (f.status != Status.DOWN, f.endpoint_name))[:limit]


def silent_locations(endpoints):
    """Agent locations whose agents are silent: (location, endpoints unknown, since)."""
    return list(
        ProbeSchedule.objects.filter(endpoint__in=endpoints, diagnosis="no_agent")
        .values("location")
        .annotate(since=Min("status_changed_at"), n=Count("id"))
        .order_by("location")
    )
