"""The endpoint rules from the docs, in one place, for the form, the API and the detail page.

Rules are pure: `services.rule_context()` loads everything they need (related rows, the
VPC's connections, whether the workspace has a key, the models it may call, a clashing
endpoint) into a `Context` once, and no rule queries the database. Each rule looks at an
(unsaved or saved) Endpoint through its context and yields `Check`s:
- `fail` blocks registration: it becomes a field error naming the fix;
- `warn` is allowed but flagged (no zone failover, http on a custom domain, an
  explicit port, a security group not known to allow 80/443…);
- `pass` is shown on the detail page's checklist, so people see what was verified.
"""

import re
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError

from endpoints.engine.hosts import (
    KIND_HOST_HINT,
    ParsedUrl,
    classify_host,
    host_problems,
    parse_url,
)
from portal.workspaces.choices import PrivateLinkSupport

from .choices import (
    DEFAULT_DOMAIN_KINDS,
    EAS_KINDS,
    PRIVATE_KINDS,
    PRIVATELINK_KINDS,
    ApiStyle,
    Kind,
)

PASS, FAIL, WARN = "pass", "fail", "warn"
SECURITY_GROUP = re.compile(r"^sg-[a-z0-9]{4,40}$")
ZONE = re.compile(r"^[a-z]{2}-[a-z0-9-]+-[a-z0-9]+$")
KIND_FORMS = {
    Kind.PUBLIC: {"public", "workspace", "trial"},
    Kind.PRIVATELINK_DEFAULT: {"pl_default_regional", "pl_default_short"},
    Kind.PRIVATELINK_CUSTOM: {"pl_custom", "pl_custom_instance", "private_dns"},
    Kind.CROSS_REGION: {"pl_default_regional", "pl_default_short"},
    Kind.FINANCE_PRIVATELINK: {"finance"},
    Kind.EAS_PUBLIC: {"eas_public"},
    Kind.EAS_VPC: {"eas_vpc"},
}
FORM_NOUN = {
    "public": "a region's shared public host",
    "workspace": "a workspace's own public domain",
    "trial": "a trial domain",
    "pl_default_regional": "an endpoint's default PrivateLink domain",
    "pl_default_short": "an endpoint's default PrivateLink domain",
    "pl_custom": "an endpoint's custom domain",
    "pl_custom_instance": "an endpoint's custom domain",
    "private_dns": "a Private DNS name under dashscope.aliyuncs.com",
    "finance": "a finance cloud endpoint's default domain",
    "eas_public": "a PAI-EAS public address",
    "eas_vpc": "a PAI-EAS VPC address",
}
CROSS_REGION_SERVICE_REGIONS = ("cn-beijing", "ap-southeast-1")
MAX_ZONES = 20
FINANCE_REGION = "cn-shanghai-finance-1"


@dataclass(frozen=True)
class Check:
    id: str
    title: str
    state: str
    message: str
    field: str = "__all__"


@dataclass
class Context:
    """An endpoint and everything its rules look at, loaded once (by `services.rule_context`).

    Related rows are given as objects (or None); facts that would take a query are given as
    values, so evaluating the rules never touches the database.
    """

    ep: object
    public_hosts: dict[str, str] = field(default_factory=dict)
    region: object = None
    service_region: object = None
    vpc: object = None
    endpoint_vpc: object = None
    workspace: object = None
    eas_token: object = None  # saved, or given in this very request (not yet saved)
    check_model: object = None
    check_model_regions: frozenset[str] = frozenset()
    vpc_connected_to_endpoint_vpc: bool = False
    workspace_has_active_key: bool = False
    workspace_callable_models: frozenset[str] = frozenset()
    clash: str | None = None  # the name of another endpoint with the same identity
    parsed: ParsedUrl | None = None
    url_error: str | None = None

    def __post_init__(self):
        try:
            self.parsed = parse_url(self.ep.url or "", self.public_hosts)
        except ValueError as exc:
            self.url_error = str(exc)

    @property
    def kind(self):
        return self.ep.kind

    @property
    def ms_region(self):
        return self.service_region if self.kind == Kind.CROSS_REGION else self.region


def _kind_label(kind) -> str:
    return Kind(kind).label if kind in Kind.values else str(kind)


# -- the rules ---------------------------------------------------------------------------


def rule_url(ctx: Context):
    if ctx.url_error:
        yield Check("url", "Base URL", FAIL, ctx.url_error, "url")
        return
    problems = host_problems(ctx.parsed.host)
    if problems:
        for problem in problems:
            yield Check("dns-name", "DNS name", FAIL, problem, "url")
        return
    yield Check(
        "dns-name", "DNS name", PASS, f"{ctx.parsed.host} is a valid DNS name (no underscores)."
    )
    if ctx.parsed.port:
        yield Check(
            "port",
            "Port",
            WARN,
            f"Explicit port :{ctx.parsed.port}. Model Studio serves on 80 and 443; a port is "
            "normal only for tests and proxies.",
            "url",
        )


def rule_kind_matches_host(ctx: Context):
    if ctx.parsed is None or ctx.kind not in Kind.values or host_problems(ctx.parsed.host):
        return  # an invalid name gets its own, more useful message
    info = ctx.parsed.info
    if info.form in KIND_FORMS[ctx.kind]:
        yield Check("domain", "Domain", PASS, f"{info.host} is {FORM_NOUN[info.form]}.")
        return
    hint = KIND_HOST_HINT[ctx.kind]
    if info.kind and info.kind != ctx.kind:
        message = (
            f"{info.host} is a {_kind_label(info.kind).lower()} host, not a "
            f"{_kind_label(ctx.kind).lower()} one. Choose the kind '{_kind_label(info.kind)}', "
            f"or use a host of the form {hint}."
        )
    else:
        message = f"A '{_kind_label(ctx.kind)}' endpoint uses a host of the form {hint}; {info.host} is not one."
    yield Check("domain", "Domain", FAIL, message, "url")


def rule_region_matches_host(ctx: Context):
    if ctx.parsed is None or ctx.region is None:
        return
    host_region = ctx.parsed.info.region
    if not host_region:
        return
    expected = {ctx.region.code}
    if ctx.kind == Kind.CROSS_REGION and ctx.service_region is not None:
        expected.add(ctx.service_region.code)
    if host_region not in expected:
        yield Check(
            "host-region",
            "Region in the host",
            FAIL,
            f"The host names region {host_region} but the endpoint is registered in {ctx.region.code}.",
            "region",
        )


def rule_kind_region(ctx: Context):
    region = ctx.region
    if region is None:
        return
    if ctx.kind in PRIVATELINK_KINDS:
        service = ctx.ms_region
        if service is not None:
            if service.privatelink == PrivateLinkSupport.NO:
                yield Check(
                    "privatelink-region",
                    "PrivateLink in region",
                    FAIL,
                    f"Model Studio does not support private access (PrivateLink) in {service.name}. "
                    f"Use the public base URL ({', '.join(service.public_hosts) or 'see Regions'}).",
                    "service_region" if ctx.kind == Kind.CROSS_REGION else "region",
                )
            elif service.privatelink == PrivateLinkSupport.UNKNOWN:
                yield Check(
                    "privatelink-region",
                    "PrivateLink in region",
                    WARN,
                    f"The docs do not state PrivateLink support in {service.name}; check the "
                    "Endpoint console lists com.aliyuncs.dashscope there.",
                )
            else:
                yield Check(
                    "privatelink-region",
                    "PrivateLink in region",
                    PASS,
                    f"{service.name} supports PrivateLink.",
                )
    if ctx.kind == Kind.FINANCE_PRIVATELINK and region.code != FINANCE_REGION:
        yield Check(
            "finance-region",
            "Finance cloud",
            FAIL,
            f"The finance cloud PrivateLink lives in China East 2 Finance ({FINANCE_REGION}) only.",
            "region",
        )
    if ctx.kind == Kind.PRIVATELINK_CUSTOM and not region.privatelink_custom_domain:
        yield Check(
            "custom-domain",
            "Custom domain",
            FAIL,
            f"Endpoints in {region.name} have no custom domain; use the default domain over http://.",
            "kind",
        )
    if ctx.kind not in EAS_KINDS and ctx.kind != Kind.CROSS_REGION and not region.model_studio:
        yield Check(
            "model-studio-region",
            "Model Studio region",
            FAIL,
            f"Model Studio does not serve from {region.name}. From a VPC there, use a "
            "cross-region endpoint (or CEN) to Beijing or Singapore.",
            "region",
        )


def rule_protocol(ctx: Context):
    if ctx.parsed is None:
        return
    scheme = ctx.parsed.scheme
    if ctx.kind in DEFAULT_DOMAIN_KINDS:
        if scheme == "https":
            yield Check(
                "protocol",
                "Protocol",
                FAIL,
                "The default endpoint domain supports HTTP only: use http://, or turn on the "
                "custom domain (vpc-{region}.dashscope.aliyuncs.com) for HTTPS.",
                "url",
            )
        else:
            yield Check(
                "protocol", "Protocol", PASS, "http:// on the default domain (it is HTTP only)."
            )
    elif ctx.kind == Kind.PRIVATELINK_CUSTOM:
        if scheme == "http":
            yield Check(
                "protocol",
                "Protocol",
                WARN,
                "http:// on the custom domain: it supports HTTPS, which encrypts the key in transit.",
            )
        else:
            yield Check("protocol", "Protocol", PASS, "https:// on the custom domain.")
    elif ctx.kind == Kind.PUBLIC and scheme == "http":
        yield Check(
            "protocol",
            "Protocol",
            WARN,
            "http:// to a public Model Studio host sends the key unencrypted over the internet; use https://.",
        )


def rule_vpc(ctx: Context):
    kind, region, vpc = ctx.kind, ctx.region, ctx.vpc
    if kind in PRIVATE_KINDS and vpc is None:
        yield Check(
            "vpc",
            "Callers' VPC",
            FAIL,
            "A private endpoint is reachable only from inside a VPC (no public access, no EIP): "
            "choose the VPC its callers sit in.",
            "vpc",
        )
        return
    if vpc is None or region is None:
        return
    if kind == Kind.EAS_VPC:
        if vpc.region_id != region.code:
            yield Check(
                "same-region",
                "Same region",
                FAIL,
                f"A PAI-EAS VPC address works only from a VPC in the service's region ({region.code}); "
                f"{vpc.vpc_id} is in {vpc.region_id}. Use the public address, or a VPC in {region.code}.",
                "vpc",
            )
        else:
            yield Check("same-region", "Same region", PASS, f"{vpc.vpc_id} is in {region.code}.")
        return
    if kind == Kind.CROSS_REGION:
        if vpc.region_id != region.code:
            yield Check(
                "same-region",
                "Source VPC",
                FAIL,
                f"A cross-region endpoint is created in the source VPC's region: {vpc.vpc_id} is in "
                f"{vpc.region_id}, so register the endpoint in {vpc.region_id}.",
                "region",
            )
        return
    if kind in PRIVATELINK_KINDS:
        host_vpc = ctx.endpoint_vpc or vpc
        if host_vpc.region_id != region.code:
            yield Check(
                "same-region",
                "Endpoint VPC region",
                FAIL,
                f"{host_vpc.vpc_id} is in {host_vpc.region_id} but the endpoint is in {region.code}. "
                "An interface endpoint lives in its VPC's region; from another region use a "
                "cross-region endpoint, or CEN with the endpoint in the service region.",
                "endpoint_vpc" if ctx.endpoint_vpc else "vpc",
            )
        if ctx.endpoint_vpc and ctx.endpoint_vpc.pk != vpc.pk:
            if not ctx.vpc_connected_to_endpoint_vpc:
                yield Check(
                    "connected",
                    "Same VPC or connected",
                    FAIL,
                    f"{vpc.vpc_id} and {ctx.endpoint_vpc.vpc_id} are not connected: callers reach an "
                    "endpoint only from its own VPC or a VPC joined to it by CEN.",
                    "endpoint_vpc",
                )
            else:
                yield Check(
                    "connected",
                    "Same VPC or connected",
                    PASS,
                    f"Callers in {vpc.vpc_id} reach the endpoint in {ctx.endpoint_vpc.vpc_id} over CEN.",
                )
        else:
            yield Check(
                "connected",
                "Same VPC or connected",
                PASS,
                f"Callers and endpoint share {vpc.vpc_id}.",
            )


def rule_cross_region(ctx: Context):
    service = ctx.service_region
    if ctx.kind != Kind.CROSS_REGION:
        if service is not None:
            yield Check(
                "service-region",
                "Service region",
                FAIL,
                "Only cross-region endpoints have a service region; leave it empty.",
                "service_region",
            )
        return
    if service is None:
        yield Check(
            "service-region",
            "Service region",
            FAIL,
            "Choose the service region the endpoint reaches: China (Beijing) or Singapore.",
            "service_region",
        )
        return
    if service.code not in CROSS_REGION_SERVICE_REGIONS:
        yield Check(
            "service-region",
            "Service region",
            FAIL,
            f"Cross-region endpoints reach Model Studio in China (Beijing) or Singapore, not {service.name}.",
            "service_region",
        )
        return
    region = ctx.region
    if region is None:
        return
    if region.code == service.code:
        yield Check(
            "service-region",
            "Service region",
            FAIL,
            "Source and service region are the same: register a PrivateLink endpoint instead.",
            "service_region",
        )
    elif region.mainland != service.mainland:
        yield Check(
            "service-region",
            "Cross-border",
            FAIL,
            f"A cross-region endpoint cannot connect the Chinese mainland and other regions "
            f"({region.name} → {service.name}). Use CEN instead: create the endpoint in a "
            f"{service.name} VPC and connect your VPC to it with a transit router "
            "(cross-border links need an application, 1 to 2 business days).",
            "service_region",
        )
    else:
        yield Check(
            "service-region",
            "Service region",
            PASS,
            f"{region.name} → {service.name} over a cross-region endpoint (billed via CDT).",
        )


def rule_credentials(ctx: Context):
    ep, workspace = ctx.ep, ctx.workspace
    if ctx.kind in EAS_KINDS:
        if workspace is not None:
            yield Check(
                "credentials",
                "Credentials",
                FAIL,
                "PAI-EAS services take an EAS token, not a Model Studio workspace key; leave the workspace empty.",
                "workspace",
            )
        token = ctx.eas_token
        if token is None:
            yield Check(
                "credentials",
                "Credentials",
                FAIL,
                "A PAI-EAS service needs its EAS token (from 'View invocation information').",
                "eas_token",
            )
        else:
            yield Check("credentials", "Credentials", PASS, f"EAS token {token.fingerprint}.")
        if ep.api_style != ApiStyle.EAS:
            yield Check(
                "api-style",
                "API style",
                FAIL,
                "PAI-EAS endpoints use the 'eas' API style.",
                "api_style",
            )
        return
    if ctx.eas_token is not None:
        yield Check(
            "credentials",
            "Credentials",
            FAIL,
            "Only PAI-EAS endpoints take an EAS token; Model Studio uses the workspace's API key.",
            "eas_token",
        )
    if ep.api_style == ApiStyle.EAS:
        yield Check(
            "api-style",
            "API style",
            FAIL,
            "The 'eas' style is for PAI-EAS services; Model Studio speaks openai, dashscope or anthropic.",
            "api_style",
        )
    if workspace is None:
        yield Check(
            "credentials",
            "Key region",
            FAIL,
            "Choose the workspace whose API key the probes use (a workspace in the same region).",
            "workspace",
        )
        return
    ms_region = ctx.ms_region
    if ms_region is not None and workspace.region_id != ms_region.code:
        yield Check(
            "credentials",
            "Key region",
            FAIL,
            f"API keys are region-bound: {workspace.name} is a workspace of {workspace.region_id} and this "
            f"endpoint serves {ms_region.code}. Choose a workspace of {ms_region.code}.",
            "workspace",
        )
    elif workspace.pk and not ctx.workspace_has_active_key:
        yield Check(
            "credentials",
            "Key",
            WARN,
            f"{workspace.name} has no active API key, so probes cannot authenticate: add one on its page.",
        )
    else:
        yield Check(
            "credentials",
            "Key region",
            PASS,
            f"Probes use a key of {workspace.name} ({workspace.region_id}).",
        )
    if ctx.parsed is not None and ctx.parsed.info.workspace_id:
        host_ws = ctx.parsed.info.workspace_id
        if host_ws != workspace.workspace_id.lower():
            yield Check(
                "workspace-domain",
                "Workspace domain",
                FAIL,
                f"{ctx.parsed.host} is the domain of workspace {host_ws}; it accepts only that "
                f"workspace's keys, and {workspace.name} is {workspace.workspace_id}.",
                "workspace",
            )


def rule_check_model(ctx: Context):
    ep = ctx.ep
    if ep.model_call_check and ctx.check_model is None:
        yield Check(
            "check-model",
            "Model check",
            FAIL,
            "A model-call check needs the model to call.",
            "check_model",
        )
    if ctx.check_model is None or ctx.kind in EAS_KINDS:
        return
    model, ms_region, workspace = ctx.check_model, ctx.ms_region, ctx.workspace
    if ms_region is not None and ms_region.pk not in ctx.check_model_regions:
        yield Check(
            "check-model",
            "Model check",
            FAIL,
            f"{model.name} is not offered in {ms_region.name}.",
            "check_model",
        )
        return
    if workspace is not None and workspace.pk and model.name not in ctx.workspace_callable_models:
        yield Check(
            "check-model",
            "Model check",
            WARN,
            f"{workspace.name} is not granted {model.name}: probes will report 'model not permitted' "
            "until it is.",
        )
    else:
        yield Check(
            "check-model", "Model check", PASS, f"Probes check the permission to call {model.name}."
        )


def rule_zones_and_security_group(ctx: Context):
    ep = ctx.ep
    zones = ep.zones
    if not isinstance(zones, list) or not all(isinstance(z, str) for z in zones):
        yield Check(
            "zones",
            "Zones",
            FAIL,
            "Give the zones as a list of zone IDs, e.g. cn-beijing-a.",
            "zones",
        )
        return
    if len(zones) > MAX_ZONES:
        yield Check(
            "zones",
            "Zones",
            FAIL,
            f"{len(zones):,} zones: an endpoint has one ENI per zone, and a region has far fewer "
            f"than {MAX_ZONES}.",
            "zones",
        )
        return
    bad = [z for z in zones if not ZONE.match(z)]
    if bad:
        yield Check(
            "zones",
            "Zones",
            FAIL,
            f"{', '.join(bad[:5])}: zone IDs look like cn-beijing-a or ap-southeast-1b.",
            "zones",
        )
        return
    twice = sorted({z for z in zones if zones.count(z) > 1})
    if twice:
        yield Check("zones", "Zones", FAIL, f"{', '.join(twice)} listed twice.", "zones")
        return
    if ctx.region is not None:
        elsewhere = [z for z in zones if not z.startswith(ctx.region.code)]
        if elsewhere:
            yield Check(
                "zones",
                "Zones",
                FAIL,
                f"{', '.join(elsewhere)} {'is' if len(elsewhere) == 1 else 'are'} not a zone of "
                f"{ctx.region.name}: the endpoint's ENIs sit in zones of its own region "
                f"({ctx.region.code}-…).",
                "zones",
            )
            return
    if ep.security_group and not SECURITY_GROUP.match(ep.security_group):
        yield Check(
            "security-group",
            "Security group",
            FAIL,
            f"'{ep.security_group}' is not a security group ID such as sg-2zeabc123.",
            "security_group",
        )
    if ctx.kind not in PRIVATELINK_KINDS:
        return
    if len(set(zones)) < 2:
        yield Check(
            "zones",
            "Zones",
            WARN,
            f"No zone failover: {len(set(zones))} zone{'s' if len(set(zones)) != 1 else ''}. Select "
            "vSwitches in at least two zones so traffic fails over if one zone fails.",
        )
    else:
        yield Check("zones", "Zones", PASS, f"{len(set(zones))} zones: {', '.join(zones)}.")
    if ep.allows_80_443 is False:
        yield Check(
            "security-group",
            "Security group",
            WARN,
            f"{ep.security_group or 'The security group'} does not allow inbound TCP 80/443 from the "
            "callers' CIDR: calls will time out. Add the inbound rules.",
        )
    elif ep.allows_80_443 is None:
        yield Check(
            "security-group",
            "Security group",
            WARN,
            "Not confirmed that the endpoint's security group allows inbound TCP 80 and 443 "
            "from the callers' CIDR.",
        )
    else:
        yield Check(
            "security-group",
            "Security group",
            PASS,
            f"{ep.security_group} allows inbound 80/443 from the callers."
            if ep.security_group
            else "Recorded as allowing inbound 80/443 from the callers (no security group ID given).",
        )


def rule_private_dns(ctx: Context):
    """Custom domain from a connected VPC: needs a Private DNS CNAME to the default domain."""
    if ctx.kind != Kind.PRIVATELINK_CUSTOM or ctx.parsed is None or ctx.vpc is None:
        return
    host = ctx.parsed.host
    needs_private_dns = (ctx.endpoint_vpc is not None and ctx.endpoint_vpc.pk != ctx.vpc.pk) or (
        ctx.parsed.info.form == "private_dns"
    )
    if not needs_private_dns:
        yield Check(
            "private-dns",
            "Private DNS",
            PASS,
            f"The custom domain resolves inside {ctx.vpc.vpc_id}, the endpoint's own VPC.",
        )
        return
    target = ctx.vpc.overrides_for_probe().get(host)
    target_info = classify_host(target) if target else None
    if target_info is not None and target_info.is_default_domain:
        yield Check(
            "private-dns",
            "Private DNS",
            PASS,
            f"{ctx.vpc.vpc_id} has a Private DNS record {host} CNAME {target}.",
        )
    else:
        yield Check(
            "private-dns",
            "Private DNS",
            WARN,
            f"{host} is valid only inside the endpoint's own VPC. In {ctx.vpc.vpc_id} add a Private "
            f"DNS zone '{host}' with 'CNAME @ → ep-….privatelink.aliyuncs.com' (the endpoint's "
            "default domain); no underscores in the record.",
        )


def rule_unique(ctx: Context):
    if ctx.parsed is None or ctx.clash is None:
        return
    yield Check(
        "unique",
        "Registered once",
        FAIL,
        f"{ctx.parsed.url} is already registered as '{ctx.clash}' from the same network with the "
        "same workspace.",
        "url",
    )


RULES = (
    rule_url,
    rule_kind_matches_host,
    rule_region_matches_host,
    rule_kind_region,
    rule_protocol,
    rule_vpc,
    rule_cross_region,
    rule_credentials,
    rule_check_model,
    rule_zones_and_security_group,
    rule_private_dns,
    rule_unique,
)


def evaluate(ctx: Context) -> list[Check]:
    if ctx.kind not in Kind.values:
        return [Check("kind", "Kind", FAIL, f"Choose a kind: {', '.join(Kind.values)}.", "kind")]
    return [check for rule in RULES for check in rule(ctx)]


def validate(ctx: Context) -> list[Check]:
    """Raise ValidationError with every failing rule by field; return the warnings."""
    checks = evaluate(ctx)
    errors: dict[str, list[str]] = {}
    for check in checks:
        if check.state == FAIL:
            errors.setdefault(check.field, [])
            if check.message not in errors[check.field]:
                errors[check.field].append(check.message)
    if errors:
        raise ValidationError(errors)
    return [c for c in checks if c.state == WARN]


def checklist(ctx: Context) -> list[Check]:
    """Every check, worst first within the docs' troubleshooting order."""
    order = {FAIL: 0, WARN: 1, PASS: 2}
    return sorted(evaluate(ctx), key=lambda c: order[c.state])
