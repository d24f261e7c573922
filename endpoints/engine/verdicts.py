"""Verdicts: each diagnosis's default status and fix, and how answers and failures map to them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .codes import EAS_KINDS, Diagnosis, Kind, Phase, Status
from .hosts import cached_classify_host
from .routes import Check
from .targets import AddressResult, Phases, ProbeOutcome, ProbeTarget

if TYPE_CHECKING:
    from .exchange import HttpResult

TLS_EXPIRY_WARNING_DAYS = 14


# Default status and the fix for each diagnosis code. Messages are built with specifics.
DIAGNOSES: dict[Diagnosis, tuple[Status, str]] = {
    Diagnosis.OK: (Status.UP, ""),
    Diagnosis.DNS_NXDOMAIN: (
        Status.DOWN,
        "Check the spelling of the domain, and that the VPC's DNS (PrivateZone) has the record: an "
        "endpoint domain resolves only inside its VPC or a connected one.",
    ),
    Diagnosis.DNS_TIMEOUT: (
        Status.DOWN,
        "Check the VPC's resolver address (Alibaba Cloud: 100.100.2.136 / .138) and that DNS "
        "traffic to it is allowed.",
    ),
    Diagnosis.DNS_ERROR: (
        Status.DOWN,
        "The resolver failed (SERVFAIL or refused): check its configuration.",
    ),
    Diagnosis.RESOLVES_PUBLIC: (
        Status.DOWN,
        "Inside the VPC the domain must resolve to the endpoint ENIs' private addresses: check that "
        "the caller uses the VPC's resolver and that no public record shadows the private one.",
    ),
    Diagnosis.PRIVATE_DNS_CNAME_MISMATCH: (
        Status.DOWN,
        "Point the Private DNS record (CNAME @) at the endpoint's default domain "
        "ep-….privatelink.aliyuncs.com, without underscores.",
    ),
    Diagnosis.EGRESS_REFUSED: (
        Status.UNKNOWN,
        "The portal did not probe: widen PORTAL_PROBE_ALLOWED_NETWORKS if this address should be "
        "reachable, or fix the record that points here.",
    ),
    Diagnosis.TCP_REFUSED: (
        Status.DOWN,
        "Nothing accepts connections there: check the endpoint still exists and the port "
        "(80 for http://, 443 for https://).",
    ),
    Diagnosis.TCP_TIMEOUT: (
        Status.DOWN,
        "Usually the endpoint's security group drops the traffic: allow inbound TCP 80 and 443 from "
        "the caller's CIDR. Also check the caller is in the same VPC or a connected one.",
    ),
    Diagnosis.ZONE_UNREACHABLE: (
        Status.DEGRADED,
        "One zone's endpoint ENI does not answer: check that zone's vSwitch and the security group. "
        "Until it is fixed there is no zone failover.",
    ),
    Diagnosis.TLS_ERROR: (
        Status.DOWN,
        "Check the certificate chain (set SSL_CERT_FILE for a private CA) and that the domain "
        "matches the certificate.",
    ),
    Diagnosis.TLS_EXPIRING: (Status.DEGRADED, "Renew the certificate before it expires."),
    Diagnosis.HTTP_ON_HTTPS_ONLY: (
        Status.DOWN,
        "This domain serves HTTPS only: change the URL to https://.",
    ),
    Diagnosis.HTTPS_ON_DEFAULT_DOMAIN: (
        Status.DOWN,
        "The default endpoint domain supports HTTP only: use http://, or turn on the custom domain "
        "(vpc-{region}.dashscope.aliyuncs.com) for HTTPS.",
    ),
    Diagnosis.CONNECTION_RESET: (
        Status.DOWN,
        "The connection was cut mid-request: look for a proxy, firewall or overloaded gateway on the path.",
    ),
    Diagnosis.PROTOCOL_ERROR: (
        Status.DOWN,
        "Something other than Model Studio answers on this address and port.",
    ),
    Diagnosis.AUTH_REJECTED: (
        Status.DOWN,
        "Keys are region-bound and workspace-bound: check the key belongs to a workspace of this "
        "region, is not deleted, and, on a workspace domain, belongs to that workspace.",
    ),
    Diagnosis.MODEL_NOT_PERMITTED: (
        Status.DOWN,
        "Grant the model to the workspace (Workspaces → model permissions), or probe a model it has.",
    ),
    Diagnosis.MODEL_NOT_FOUND: (
        Status.DOWN,
        "Check the model name against the region's model list.",
    ),
    Diagnosis.PATH_NOT_FOUND: (
        Status.DOWN,
        "The gateway knows no such path: check the API style (/compatible-mode/v1, /api/v1, "
        "/apps/anthropic) or the EAS service name.",
    ),
    Diagnosis.QUOTA_EXHAUSTED: (
        Status.DOWN,
        "The account is set to use the free tier only and its quota is used up: turn off "
        "'free tier only' for the model, or wait for the quota to renew.",
    ),
    Diagnosis.CONFIG_ERROR: (Status.UNKNOWN, "Fix the endpoint's URL in the registry."),
    Diagnosis.INTERNAL_ERROR: (
        Status.UNKNOWN,
        "The portal could not finish this probe: check the endpoint's stored key (printable ASCII "
        "only) and the worker's log.",
    ),
    Diagnosis.ACCOUNT_IN_ARREARS: (
        Status.DOWN,
        "Top up the Alibaba Cloud account: calls are refused until it is paid.",
    ),
    Diagnosis.BAD_REQUEST: (
        Status.DOWN,
        "The service refused the probe's request; see the message.",
    ),
    Diagnosis.RATE_LIMITED: (
        Status.DEGRADED,
        "Requests are throttled (RPM/TPM limits are per account and model, summed over all "
        "workspaces): spread load or ask for a higher limit.",
    ),
    Diagnosis.UPSTREAM_ERROR: (
        Status.DOWN,
        "Model Studio answered with a server error; retry, and check the status page.",
    ),
    Diagnosis.TIMEOUT: (
        Status.DOWN,
        "Nothing came back before the probe's deadline: the service or a middlebox is stalling.",
    ),
    Diagnosis.SLOW: (Status.DEGRADED, "Works, but slower than this endpoint's threshold."),
    Diagnosis.NO_AGENT: (
        Status.UNKNOWN,
        "No probe agent of this VPC has been heard from: start one inside the VPC (the VPC "
        "page shows the command), or check that the agents can reach the portal over HTTPS.",
    ),
}


class Finding(Exception):
    """Raised inside a phase: the probe stops with this diagnosis."""

    def __init__(self, code: str, message: str, phase: str | None, status: str | None = None):
        super().__init__(message)
        self.code, self.message, self.phase = code, message, phase
        self.status = status or DIAGNOSES[code][0]


def judge_http(
    result: HttpResult, request: Check, target: ProbeTarget, host: str
) -> tuple[str, str] | None:
    """(code, message) for an HTTP answer that means trouble; None when it means success."""
    if 200 <= result.status < 300:
        return None  # before reading the error fields: a success body need not be parsed
    status, code, text = result.status, result.error_code, result.error_message
    detail = f"{status} {code}".strip() + (f": {text}" if text else "")
    if status == 400 and code == "Arrearage":
        return "account_in_arrears", f"The account is in arrears ({detail})."
    if status == 400 and request.validation:
        # Authenticated and permitted, refused before billing: what we asked for. Only in
        # Model Studio's own error shape: a proxy's HTML "400 Bad Request" proves nothing.
        if result.json() is not None and code:
            return None
        return (
            "bad_request",
            f"{host} answered 400 in a shape that is not Model Studio's (a proxy?).",
        )
    if status == 401:
        what = "EAS token" if target.kind in EAS_KINDS else "API key"
        return "auth_rejected", f"The {what} was rejected by {host} ({detail})."
    if status == 403:
        if code == "AllocationQuota.FreeTierOnly":
            return "quota_exhausted", f"The free quota is used up ({detail})."
        if code == "Workspace.AccessDenied":
            return "auth_rejected", f"The key's workspace may not be used here ({detail})."
        model = target.check_model or "the model"
        return "model_not_permitted", f"The workspace may not call {model} ({detail})."
    if status == 404 and code == "WorkSpaceNotFound":
        return "auth_rejected", f"The key's workspace does not exist here ({detail})."
    if status == 404:
        if not result.body.strip():
            return "path_not_found", f"{host} has no {request.path} (404 with an empty body)."
        if target.kind in EAS_KINDS:
            return "path_not_found", f"No PAI-EAS service at {request.path} ({detail})."
        return "model_not_found", f"{target.check_model or 'The model'} was not found ({detail})."
    if status in {429, 450}:
        return "rate_limited", f"Throttled ({detail})."
    if status >= 500:
        return "upstream_error", f"{host} answered {detail}."
    return "bad_request", f"Unexpected answer {detail}."


def outcome_for(
    target: ProbeTarget, code: str, message: str, phase=None, status=None, **kw
) -> ProbeOutcome:
    default_status, fix = DIAGNOSES[code]
    return ProbeOutcome(
        status=status or default_status,
        diagnosis=code,
        message=message,
        fix=fix,
        failed_phase=phase,
        endpoint_id=target.endpoint_id,
        **kw,
    )


def timeout_outcome(target: ProbeTarget, state: dict) -> ProbeOutcome:
    phase = state["phase"]
    limit = f"{target.timeout_s:g} s"
    if phase == Phase.RESOLVE:
        return outcome_for(
            target, "dns_timeout", f"The resolver did not answer within {limit}.", phase
        )
    if phase == Phase.CONNECT:
        return outcome_for(
            target, "tcp_timeout", f"No TCP answer from any address within {limit}.", phase
        )
    if phase == Phase.TLS:
        return outcome_for(
            target, "timeout", f"The TLS handshake did not finish within {limit}.", phase
        )
    if phase == Phase.PROCESSING:
        message = f"Connected, but no response within the {limit} deadline (the upstream hangs)."
    else:
        message = (
            f"The response started but did not finish within the {limit} deadline (slow body)."
        )
    return outcome_for(target, "timeout", message, phase)


def cname_problem(target: ProbeTarget, host: str, chain: list[str]) -> str | None:
    """A custom domain must CNAME to a default endpoint domain (Private DNS set-ups)."""
    if target.kind != Kind.PRIVATELINK_CUSTOM or not chain:
        return None
    if any(cached_classify_host(name).is_default_domain for name in chain):
        return None
    return (
        f"{host} is a CNAME to {' → '.join(chain)}, not to the endpoint's default domain "
        "(ep-….privatelink.aliyuncs.com)"
    )


def connect_failure(results: list[AddressResult], port: int, timeout: float) -> Finding:
    errors = {r.error for r in results}
    where = ", ".join(f"{r.address}:{port}" for r in results)
    if errors == {"refused"}:
        return Finding("tcp_refused", f"Connection refused by {where}.", Phase.CONNECT)
    if "timeout" in errors:
        return Finding(
            "tcp_timeout", f"No TCP answer from {where} within {timeout:g} s.", Phase.CONNECT
        )
    detail = "; ".join(f"{r.address}: {r.error}" for r in results)
    return Finding("tcp_refused", f"Could not connect: {detail}.", Phase.CONNECT)


def success_message(
    request: Check, target: ProbeTarget, host: str, phases: Phases, usage=None
) -> str:
    """What a passing probe proved, in words."""
    took = f"{phases.total_ms:.0f} ms"
    credential = "EAS token" if target.kind in EAS_KINDS else "key"
    if request.validation:
        message = (
            f"{host} accepted the {credential} and the permission to call {target.check_model} in {took} "
            "(a check request refused before billing)."
        )
    elif target.secret:
        message = f"{host} answered and accepted the {credential} in {took}."
    else:
        message = f"{host} answered in {took} (no credentials to check)."
    if usage:
        message += (
            f" The billed 1-token call to {usage['model']} used {usage['input_tokens']} + "
            f"{usage['output_tokens']} tokens."
        )
    elif target.model_call:
        message += " The billed 1-token model call returned no usage."
    return message
