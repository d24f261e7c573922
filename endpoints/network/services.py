"""Every write about VPCs and endpoints: one function each, used by the pages, the API and the
Django admin alike.

Each validates (the model's own checks, then the docs' rules with everything they need
loaded once into a `rules.Context`), saves inside `transaction.atomic()`, writes the audit
entry, and schedules a re-probe on commit when the change could alter a verdict.
"""

from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.dispatch import receiver
from django.utils import timezone

from portal.audit import trail
from portal.workspaces.models import Region
from portal.workspaces.signals import probe_inputs_changed

from . import rules
from .choices import EAS_KINDS
from .models import Endpoint, Vpc
from .signals import endpoints_changed


def public_hosts() -> dict[str, str]:
    """The shared public hosts of every Model Studio region (Region data), host → region."""
    hosts = {}
    for code, names in Region.objects.filter(model_studio=True).values_list("code", "public_hosts"):
        for name in names or []:
            hosts[str(name).lower()] = code
    return hosts


def _related(endpoint, name):
    """A related row when its id is set and the row exists, else None (never a query error)."""
    if getattr(endpoint, f"{name}_id", None) is None:
        return None
    try:
        return getattr(endpoint, name)
    except ObjectDoesNotExist:
        return None


def rule_context(endpoint: Endpoint, eas_token=None) -> rules.Context:
    """Everything the rules look at for `endpoint`, loaded here so the rules stay pure."""
    ctx = rules.Context(
        endpoint,
        public_hosts=public_hosts(),
        region=_related(endpoint, "region"),
        service_region=_related(endpoint, "service_region"),
        vpc=_related(endpoint, "vpc"),
        endpoint_vpc=_related(endpoint, "endpoint_vpc"),
        workspace=_related(endpoint, "workspace"),
        eas_token=eas_token or _related(endpoint, "eas_token"),
        check_model=_related(endpoint, "check_model"),
    )
    if ctx.check_model is not None:
        ctx.check_model_regions = frozenset(ctx.check_model.regions.values_list("pk", flat=True))
    if ctx.vpc is not None and ctx.endpoint_vpc is not None and ctx.vpc.pk:
        ctx.vpc_connected_to_endpoint_vpc = ctx.vpc.connected_vpcs.filter(
            pk=ctx.endpoint_vpc.pk
        ).exists()
    if ctx.workspace is not None and ctx.workspace.pk:
        ctx.workspace_has_active_key = ctx.workspace.api_keys.filter(
            revoked_at__isnull=True
        ).exists()
        if ctx.check_model is not None:
            ctx.workspace_callable_models = frozenset(
                ctx.workspace.callable_models().values_list("name", flat=True)
            )
    if ctx.parsed is not None:
        ctx.clash = (
            Endpoint.objects.filter(
                url=ctx.parsed.url, vpc_id=endpoint.vpc_id, workspace_id=endpoint.workspace_id
            )
            .exclude(pk=endpoint.pk)
            .values_list("name", flat=True)
            .first()
        )
    return ctx


def checklist(endpoint: Endpoint) -> list[rules.Check]:
    """The detail page's checklist: every rule's verdict, worst first."""
    return rules.checklist(rule_context(endpoint))


def check_endpoint(endpoint: Endpoint, eas_token=None) -> list[rules.Check]:
    """Validate `endpoint` as it stands: ValidationError (by field) with every problem, or the
    warnings of the rules that pass with a flag."""
    problems: dict[str, list[str]] = {}
    try:
        endpoint.full_clean(exclude=["host"], validate_constraints=False)
    except ValidationError as exc:
        problems = {field: list(messages) for field, messages in exc.message_dict.items()}
    try:
        warnings = rules.validate(rule_context(endpoint, eas_token))
    except ValidationError as exc:
        for field, messages in exc.message_dict.items():
            for message in messages:
                if message not in problems.setdefault(field, []):
                    problems[field].append(message)
        warnings = []
    if problems:
        raise ValidationError(problems)
    return warnings


@transaction.atomic
def save_endpoint(
    endpoint: Endpoint, *, actor, source: str = "web", eas_token=None
) -> list[rules.Check]:
    """Register a new endpoint or save changes to one; returns the rules' warnings.

    `eas_token`: a new (unsaved) EAS token given with the change; it replaces (and revokes)
    the endpoint's old one. A kind other than PAI-EAS keeps no token.
    """
    created = endpoint.pk is None
    before = None if created else trail.snapshot(Endpoint.objects.get(pk=endpoint.pk))
    if endpoint.kind not in EAS_KINDS:
        endpoint.eas_token = None  # only PAI-EAS endpoints keep a token (a kind change drops it)
    warnings = check_endpoint(endpoint, eas_token)
    previous = endpoint.eas_token if endpoint.eas_token_id else None
    try:
        with transaction.atomic():
            if eas_token is not None:
                eas_token.created_by = eas_token.created_by or endpoint.created_by
                eas_token.save()
                endpoint.eas_token = eas_token
            endpoint.save()
    except IntegrityError:
        # Another request registered the same URL, network and workspace in the meantime.
        raise ValidationError(
            {
                "url": [
                    f"{endpoint.url} is already registered from the same network with the same "
                    "workspace."
                ]
            }
        ) from None
    if previous is not None and eas_token is not None and previous.pk != eas_token.pk:
        previous.revoked_at = previous.revoked_at or timezone.now()
        previous.save(update_fields=["revoked_at"])
    trail.record(
        actor,
        trail.Action.CREATE if created else trail.Action.UPDATE,
        endpoint,
        before=before,
        after=trail.snapshot(endpoint),
        source=source,
    )
    changed([endpoint.pk])
    return warnings


@transaction.atomic
def delete_endpoint(endpoint: Endpoint, *, actor, source: str = "web") -> None:
    trail.record(
        actor, trail.Action.DELETE, endpoint, before=trail.snapshot(endpoint), source=source
    )
    endpoint.delete()  # its schedules and results go with it (cascade)


# -- VPCs ---------------------------------------------------------------------------------


def check_vpc(vpc: Vpc, connected: list[Vpc]) -> None:
    """ValidationError (by field) unless the VPC and its CEN connections are sound."""
    problems: dict[str, list[str]] = {}
    try:
        vpc.full_clean()
    except ValidationError as exc:
        problems = {field: list(messages) for field, messages in exc.message_dict.items()}
    if not problems.get("cidr"):
        overlaps = vpc.connection_problems(connected)
        if overlaps:
            problems.setdefault("connected_vpcs", []).extend(overlaps)
    if problems:
        raise ValidationError(problems)


@transaction.atomic
def save_vpc(vpc: Vpc, connected: list[Vpc] | None = None, *, actor, source="web") -> Vpc:
    """Register a VPC or save changes to it, with its CEN connections (None: keep them)."""
    created = vpc.pk is None
    before = None if created else trail.snapshot(Vpc.objects.get(pk=vpc.pk))
    if connected is None:
        connected = list(vpc.connected_vpcs.all()) if vpc.pk else []
    check_vpc(vpc, connected)
    try:
        with transaction.atomic():
            vpc.save()
    except IntegrityError:
        vpc.validate_unique()
        raise
    vpc.connected_vpcs.set(connected)
    trail.record(
        actor,
        trail.Action.CREATE if created else trail.Action.UPDATE,
        vpc,
        before=before,
        after=trail.snapshot(vpc),
        source=source,
    )
    if not created:
        # Its endpoints, and those of the VPCs joined to it (whose agents may probe from here).
        neighbours = [vpc.pk, *(v.pk for v in connected)]
        changed(
            Endpoint.objects.filter(Q(vpc__in=neighbours) | Q(endpoint_vpc=vpc)).values_list(
                "pk", flat=True
            )
        )
    return vpc


@transaction.atomic
def delete_vpc(vpc: Vpc, *, actor, source: str = "web") -> None:
    in_use = vpc.endpoints.count() + vpc.hosted_endpoints.count()
    if in_use:
        raise ValidationError(
            f"{vpc.vpc_id} is used by {in_use} endpoint(s); move or delete them first."
        )
    trail.record(actor, trail.Action.DELETE, vpc, before=trail.snapshot(vpc), source=source)
    vpc.delete()


# -- re-probing ---------------------------------------------------------------------------


def changed(endpoint_ids) -> None:
    """Once the change commits, tell the probes app: it re-plans these endpoints' schedules
    and probes them at the next dispatch, not at the end of their interval."""
    ids = list(endpoint_ids)
    if ids:
        transaction.on_commit(lambda: endpoints_changed.send(Endpoint, endpoint_ids=ids))


@receiver(probe_inputs_changed, dispatch_uid="network-reprobe-workspace")
def _workspace_changed(sender, workspace, **kwargs):
    changed(Endpoint.objects.filter(workspace=workspace).values_list("pk", flat=True))
