"""Everything about agents: enrolling and revoking them (audited), and the protocol they speak
(hello, lease, results, heartbeat; docs/agent-protocol.md), and watching for silent VPCs.

An agent leases its VPC's due schedules exactly as the central dispatcher does (a
conditional UPDATE: several agents of one VPC never take the same slot); a lease it does not
answer in time runs out, and another agent takes the schedule. Secrets travel sealed to the
agent's own public key: nothing the portal writes or sends holds them in the clear.
"""

import base64
import binascii
import math
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from nacl.exceptions import CryptoError
from nacl.public import PublicKey, SealedBox

from endpoints.engine import outcome_from_json
from endpoints.network.choices import ProbedBy
from endpoints.network.models import Vpc
from endpoints.probes import dispatch, recorder, runner
from endpoints.probes.models import ProbeSchedule
from endpoints.probes.signals import agents_silent
from portal.audit import trail

from .models import Agent, VpcWatch

SILENT_AFTER_LEASES = 3
POLL_S = 2.0
HEARTBEAT_S = 15.0
MAX_LEASE = 500
MAX_RESULTS = 1000


def lease_period() -> timedelta:
    return timedelta(seconds=settings.PORTAL_PROBE_LEASE_S)


def silent_after() -> timedelta:
    return SILENT_AFTER_LEASES * lease_period()


def is_online(agent: Agent, now=None) -> bool:
    now = now or timezone.now()
    return agent.last_seen_at is not None and agent.last_seen_at >= now - silent_after()


def portal_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("access-portal")
    except PackageNotFoundError:
        return "unknown"


# -- enrolling ------------------------------------------------------------------------------


@transaction.atomic
def add_agent(vpc: Vpc, name: str, *, actor, source: str = "web") -> tuple[Agent, str]:
    """Enrol an agent for `vpc`: returns it and its token, which is shown this once only."""
    name = (name or "").strip()
    if not name or len(name) > 60 or not name.isprintable():
        raise ValidationError({"name": ["Give the agent a name of up to 60 printable characters."]})
    if vpc.agents.active().filter(name=name).exists():
        raise ValidationError({"name": [f"{vpc.vpc_id} already has an agent called '{name}'."]})
    prefix, token = Agent.new_token()
    agent = Agent(vpc=vpc, name=name, prefix=prefix, digest=Agent.digest_of(token))
    agent.created_by = actor if getattr(actor, "pk", None) else None
    try:
        with transaction.atomic():
            agent.save()
    except IntegrityError:
        raise ValidationError(
            {"name": [f"{vpc.vpc_id} already has an agent called '{name}'."]}
        ) from None
    trail.record(actor, trail.Action.CREATE, agent, after=trail.snapshot(agent), source=source)
    return agent, token


@transaction.atomic
def revoke_agent(agent: Agent, *, actor, source: str = "web") -> bool:
    """Its token stops working at once (401: the agent exits); False if already revoked."""
    if agent.revoked_at is not None:
        return False
    before = trail.snapshot(agent)
    agent.revoked_at = timezone.now()
    agent.save(update_fields=["revoked_at"])
    trail.record(
        actor, trail.Action.REVOKE, agent, before=before, after=trail.snapshot(agent), source=source
    )
    # Whatever it held is given back now rather than when the lease runs out.
    ProbeSchedule.objects.filter(leased_by=agent.label).update(
        lease_token=None, lease_until=None, leased_by=""
    )
    return True


# -- the protocol -----------------------------------------------------------------------------


def _public_key(text: str) -> PublicKey:
    try:
        raw = base64.b64decode(text or "", validate=True)
        return PublicKey(raw)
    except (binascii.Error, ValueError, TypeError, CryptoError):
        raise ValidationError(
            {"public_key": ["A base64 X25519 public key (32 bytes) is required."]}
        ) from None


def hello(agent: Agent, *, public_key: str, version: str, hostname: str) -> dict:
    """An agent (re)starting: its public key, version and host; the settings it runs with."""
    _public_key(public_key)
    agent.public_key = public_key
    agent.version = (version or "")[:40]
    agent.hostname = (hostname or "")[:100]
    agent.last_seen_at = timezone.now()
    agent.save(update_fields=["public_key", "version", "hostname", "last_seen_at"])
    return {
        "agent": {"id": agent.pk, "name": agent.name, "vpc": agent.vpc.vpc_id},
        "portal_version": portal_version(),
        "lease_s": settings.PORTAL_PROBE_LEASE_S,
        "poll_s": POLL_S,
        "heartbeat_s": HEARTBEAT_S,
        "probed_by": agent.vpc.probed_by,
    }


def _seal(box: SealedBox, secret: str | None) -> str | None:
    return None if secret is None else base64.b64encode(box.encrypt(secret.encode())).decode()


def lease(agent: Agent, capacity: int) -> list[dict]:
    """Up to `capacity` of the agent's VPC's schedules due within the next poll, leased to
    it; each with its target and its secret sealed to the agent's key."""
    if not agent.public_key:
        raise ValidationError({"public_key": ["Say hello first: no public key is registered."]})
    now = timezone.now()
    capacity = max(0, min(int(capacity), MAX_LEASE))
    Agent.objects.filter(pk=agent.pk).update(last_seen_at=now)
    if not capacity or agent.vpc.probed_by != ProbedBy.AGENTS:
        return []
    schedules = ProbeSchedule.objects.filter(location=agent.vpc.vpc_id)
    until = now + timedelta(seconds=POLL_S + 1)
    # Several agents of a VPC share the work: each lease takes at most a fair share of what is
    # due among the agents polling now (the first to poll took it all, every interval, when
    # the slots fell together); what is left goes to the next poll, a dead agent's share too.
    peers = (
        Agent.objects.active()
        .filter(vpc_id=agent.vpc_id, last_seen_at__gte=now - timedelta(seconds=3 * POLL_S))
        .count()
    )
    if peers > 1:
        capacity = min(capacity, max(1, math.ceil(schedules.due(until).count() / peers)))
    token, claimed = dispatch.claim(schedules, limit=capacity, until=until, leased_by=agent.label)
    if not claimed:
        return []
    lag = max(0.0, (now - min(slot for _, slot in claimed)).total_seconds() * 1000)
    Agent.objects.filter(pk=agent.pk).update(lease_lag_ms=lag)
    box = SealedBox(_public_key(agent.public_key))
    items = []
    for work in runner.work_for([pk for pk, _ in claimed], token, source="agent"):
        obs = work.observation
        items.append(
            {
                "schedule": obs.schedule_id,
                "endpoint": obs.endpoint_id,
                "lease": str(token),
                "slot": obs.slot.isoformat(),
                "interval_s": obs.interval_s,
                "run": obs.run_id,
                "target": work.target.as_json(),
                "secret": _seal(box, work.target.secret),
                "missing": obs.missing,
            }
        )
    return items


def _aware(text):
    """A slot's time from JSON (ISO 8601 with a zone), or None."""
    if text is None:
        return None
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError("slot: a time zone is required")
    return moment


def deliver(agent: Agent, items: list[dict]) -> dict:
    """Store what the agent found (leased or, while the portal was away, self-scheduled
    slots); every result once, only for schedules of the agent's own VPC."""
    now = timezone.now()
    Agent.objects.filter(pk=agent.pk).update(last_seen_at=now)
    location = agent.vpc.vpc_id
    wanted = {i.get("schedule") for i in items if isinstance(i.get("schedule"), int)}
    schedules = {
        s.pk: s
        for s in ProbeSchedule.objects.filter(pk__in=wanted, location=location).select_related(
            "endpoint"
        )
    }
    observations, rejected = [], []
    for index, item in enumerate(items[:MAX_RESULTS]):
        schedule = schedules.get(item.get("schedule"))
        if schedule is None or schedule.endpoint_id != item.get("endpoint"):
            rejected.append({"index": index, "error": "not a schedule of this agent's VPC"})
            continue
        try:
            outcome = outcome_from_json(item.get("outcome"), endpoint_id=schedule.endpoint_id)
            slot = _aware(item.get("slot"))
        except (ValueError, TypeError) as exc:
            rejected.append({"index": index, "error": str(exc)[:200]})
            continue
        observations.append(
            recorder.Observation(
                endpoint_id=schedule.endpoint_id,
                outcome=outcome,
                location=location,
                schedule_id=schedule.pk,
                lease_token=item.get("lease") if isinstance(item.get("lease"), str) else None,
                slot=slot,
                interval_s=schedule.endpoint.interval_s,
                agent_id=agent.pk,
                run_id=item.get("run") if isinstance(item.get("run"), str) else None,
                source="agent",
                missing=item.get("missing") if isinstance(item.get("missing"), str) else None,
            )
        )
    summary = recorder.record(observations)
    return {"stored": summary.stored, "duplicates": summary.duplicates, "rejected": rejected}


def heartbeat(agent: Agent, *, version: str = "", buffered: int = 0, dropped: int = 0) -> dict:
    Agent.objects.filter(pk=agent.pk).update(
        last_seen_at=timezone.now(),
        version=(version or agent.version)[:40],
        buffered=max(0, min(int(buffered), 10**9)),
        dropped=max(0, min(int(dropped), 2**31 - 1)),
    )
    return {"portal_version": portal_version(), "revoked": False}


# -- silent VPCs ----------------------------------------------------------------------------


def watch_vpcs(now=None) -> list[int]:
    """Mark the VPCs whose agents have all gone silent (and their endpoints `unknown`, with
    diagnosis `no_agent`), or heard again; one `agents_silent` signal per change. Returns the
    ids of the VPCs that changed."""
    now = now or timezone.now()
    changed = []
    VpcWatch.objects.exclude(vpc__probed_by=ProbedBy.AGENTS).delete()
    for vpc in Vpc.objects.filter(probed_by=ProbedBy.AGENTS):
        seen = [
            a.last_seen_at for a in vpc.agents.active() if a.last_seen_at is not None
        ]  # few agents per VPC
        last = max(seen, default=None)
        silent = last is None or last < now - silent_after()
        watch, created = VpcWatch.objects.get_or_create(
            vpc=vpc, defaults={"silent": silent, "since": last, "changed_at": now}
        )
        if silent:
            since = last.strftime("%Y-%m-%d %H:%M UTC") if last else "it switched to agents"
            message = f"No agent of {vpc.vpc_id} heard from since {since}."
            recorder.mark_unknown(
                ProbeSchedule.objects.filter(location=vpc.vpc_id), "no_agent", message, at=now
            )
        if created and not silent:
            continue
        if created or watch.silent != silent:
            watch.silent, watch.since, watch.changed_at = silent, last, now
            watch.save()
            changed.append(vpc.pk)
            transaction.on_commit(
                lambda v=vpc.pk, s=silent, t=last: agents_silent.send(
                    Vpc, vpc_id=v, silent=s, since=t
                )
            )
        elif watch.since != last:
            VpcWatch.objects.filter(pk=watch.pk).update(since=last)
    return changed
