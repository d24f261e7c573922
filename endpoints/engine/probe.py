"""One probe, start to finish: resolve, connect to every address, TLS, the request, the verdict,
all under the target's deadline whatever the upstream does; and many probes at once.

The egress guard refuses any address outside the allowed networks, always refuses the cloud
metadata address and link-local ranges, and never sends a secret to an address or host the
endpoint's kind does not allow.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Iterable
from datetime import UTC, datetime

import h11

from . import dnswire
from .codes import DEFAULT_DOMAIN_KINDS, Kind, Phase, Status
from .egress import (
    KIND_SECRET_HOSTS,
    SECRET_CLASSES_PRIVATE,
    SECRET_CLASSES_PUBLIC,
    EgressPolicy,
    classify_address,
)
from .exchange import build_request, exchange, model_call
from .hosts import PUBLIC_HOSTS, cached_classify_host, cached_parse_url, classify_host
from .resolve import resolve
from .targets import AddressResult, Phases, ProbeOutcome, ProbeTarget
from .transport import abort, elapsed_ms, open_address, speaks_tls, ssl_context
from .verdicts import (
    TLS_EXPIRY_WARNING_DAYS,
    Finding,
    cname_problem,
    connect_failure,
    judge_http,
    outcome_for,
    success_message,
    timeout_outcome,
)

log = logging.getLogger(__name__)


async def probe(target: ProbeTarget, policy: EgressPolicy | None = None) -> ProbeOutcome:
    """Probe one endpoint within `target.timeout_s`, whatever the upstream does."""
    policy = policy or EgressPolicy.from_env()
    started_at = datetime.now(UTC)
    start = time.perf_counter()
    state: dict = {"phase": Phase.RESOLVE, "phases": Phases(), "addresses": [], "chain": []}
    try:
        async with asyncio.timeout(target.timeout_s):
            outcome = await _probe(target, policy, state, start)
    except Finding as finding:
        outcome = outcome_for(target, finding.code, finding.message, finding.phase, finding.status)
    except TimeoutError:
        outcome = timeout_outcome(target, state)
    except Exception as exc:
        log.error(
            "Probe of endpoint %s failed unexpectedly: %s", target.endpoint_id, type(exc).__name__
        )
        outcome = outcome_for(
            target,
            "internal_error",
            f"The probe failed unexpectedly ({type(exc).__name__}) in the {state['phase']} phase.",
            state["phase"],
        )
    phases = state["phases"]
    if outcome.phases is not phases:
        outcome.phases = phases
    if phases.total_ms is None:
        phases.total_ms = elapsed_ms(start)
    outcome.addresses = outcome.addresses or state["addresses"]
    outcome.cname_chain = outcome.cname_chain or state["chain"]
    outcome.started_at = started_at
    return outcome


async def _probe(
    target: ProbeTarget, policy: EgressPolicy, state: dict, start: float
) -> ProbeOutcome:
    phases: Phases = state["phases"]
    try:
        parsed = cached_parse_url(target.url)
    except ValueError as exc:
        raise Finding("config_error", f"The endpoint's URL cannot be probed: {exc}", None) from None
    host, scheme = parsed.host, parsed.scheme
    port = parsed.port or (443 if scheme == "https" else 80)
    base_path = parsed.url[len(parsed.origin) :]

    # 1. resolve
    t0 = time.perf_counter()
    resolution = await resolve(
        host,
        target.resolver,
        target.host_overrides,
        policy,
        min(target.timeout_s, target.connect_timeout_s),
        target.resolver_source,
    )
    phases.resolve_ms = elapsed_ms(t0)
    state["chain"] = resolution.cname_chain
    results = [AddressResult(a, classify_address(a)) for a in resolution.addresses]
    state["addresses"] = results

    if target.expects_private:
        public = [r.address for r in results if r.cls == "public"]
        if public:
            raise Finding(
                "resolves_public",
                f"{host} resolves to public address {', '.join(public)}: traffic would leave the "
                "private network (the key was not sent).",
                Phase.RESOLVE,
            )
    cname_trouble = cname_problem(target, host, resolution.cname_chain)

    allowed = [r for r in results if policy.allows(r.address)]
    for r in results:
        if r not in allowed:
            r.error = "refused by egress policy"
    if not allowed:
        refused = ", ".join(f"{r.address} ({r.cls})" for r in results)
        raise Finding(
            "egress_refused",
            f"Did not connect to {refused}: {policy.refusal()}.",
            Phase.CONNECT,
        )

    # 2. connect to every address; carry on with the first that answers
    state["phase"] = Phase.CONNECT
    connect_timeout = min(target.connect_timeout_s, target.timeout_s)
    tasks = [
        asyncio.ensure_future(open_address(r.address, port, connect_timeout, r)) for r in allowed
    ]
    primary = None
    primary_result = None
    pending = set(tasks)
    try:
        while pending and primary is None:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                connection = task.result()
                if connection is not None and primary is None:
                    primary = connection
                    primary_result = allowed[tasks.index(task)]
                elif connection is not None:
                    abort(connection[1])
        if primary is None:
            raise connect_failure(allowed, port, connect_timeout)
        phases.connect_ms = primary_result.connect_ms
        reader, writer = primary
        try:
            outcome = await _exchange_phases(
                target,
                reader,
                writer,
                parsed,
                host,
                port,
                base_path,
                primary_result,
                cname_trouble,
                state,
                start,
            )
        finally:
            abort(writer)
    finally:
        # The other zones: their verdicts, but never past the probe's deadline.
        if pending:
            left = target.timeout_s - (time.perf_counter() - start) - 0.05
            try:
                _, pending = await asyncio.wait(pending, timeout=max(0.0, left))
            finally:
                for task in pending:
                    task.cancel()
                for result in allowed:
                    if not result.ok and result.error is None:
                        result.error = "no answer before the deadline"
        for task in tasks:
            if (
                task.done()
                and not task.cancelled()
                and task.result() is not None
                and task.result() is not primary
            ):
                abort(task.result()[1])

    failed = [r for r in allowed if not r.ok]
    if (
        outcome.diagnosis in {"ok", "slow", "tls_expiring"}
        and failed
        and len(failed) < len(allowed)
    ):
        down = ", ".join(f"{r.address} ({r.error})" for r in failed)
        up = ", ".join(r.address for r in allowed if r.ok)
        return outcome_for(
            target,
            "zone_unreachable",
            f"{len(failed)} of {len(allowed)} endpoint addresses failed: {down}. Calls still work "
            f"through {up}.",
            Phase.CONNECT,
            http_status=outcome.http_status,
            tls_days_left=outcome.tls_days_left,
            request_id=outcome.request_id,
            usage=outcome.usage,
        )
    return outcome


async def _exchange_phases(
    target, reader, writer, parsed, host, port, base_path, address, cname_trouble, state, start
) -> ProbeOutcome:
    phases: Phases = state["phases"]
    tls_days_left = None
    is_default_domain = (
        target.kind in DEFAULT_DOMAIN_KINDS or cached_classify_host(host).is_default_domain
    )

    # 3. TLS
    if parsed.scheme == "https":
        state["phase"] = Phase.TLS
        t0 = time.perf_counter()
        try:
            await writer.start_tls(
                ssl_context(target.ca_file),
                server_hostname=host,
                ssl_handshake_timeout=min(target.connect_timeout_s, target.timeout_s),
            )
        except ssl.SSLCertVerificationError as exc:
            raise Finding(
                "tls_error",
                f"The certificate of {host} is not trusted: {exc.verify_message or exc.reason}.",
                Phase.TLS,
            ) from None
        except (ssl.SSLError, ConnectionError) as exc:
            reason = getattr(exc, "reason", None) or str(exc) or type(exc).__name__
            if is_default_domain:
                raise Finding(
                    "https_on_default_domain",
                    f"TLS with {host} failed ({reason}): the default endpoint domain speaks HTTP only.",
                    Phase.TLS,
                ) from None
            raise Finding(
                "tls_error", f"TLS handshake with {host} failed: {reason}.", Phase.TLS
            ) from None
        phases.tls_ms = elapsed_ms(t0)
        cert = writer.get_extra_info("peercert") or {}
        if cert.get("notAfter"):
            tls_days_left = int((ssl.cert_time_to_seconds(cert["notAfter"]) - time.time()) // 86400)

    # Never send a secret where the endpoint's kind does not allow it.
    allowed_classes = SECRET_CLASSES_PRIVATE if target.expects_private else SECRET_CLASSES_PUBLIC
    host_kind = (
        classify_host(host, {**PUBLIC_HOSTS, **target.public_hosts}).kind
        if target.public_hosts
        else cached_classify_host(host).kind
    )
    if target.secret and (
        address.cls not in allowed_classes
        or host_kind not in KIND_SECRET_HOSTS.get(target.kind, set())
    ):
        raise Finding(
            "egress_refused",
            f"Did not send the key to {host} ({address.address}, {address.cls}): a "
            f"{Kind(target.kind).label.lower()} endpoint's key goes only to its own kind of host.",
            Phase.PROCESSING,
        )

    # 4. the request
    request = build_request(target, base_path)
    default_port = 443 if parsed.scheme == "https" else 80
    host_header = host if port == default_port else f"{host}:{port}"
    try:
        result = await exchange(reader, writer, host_header, request, target, state)
    except h11.RemoteProtocolError as exc:
        answered = state["phase"] == Phase.TRANSFER  # some bytes of an answer arrived
        closed = "peer closed" in str(exc).lower() or "unexpectedly closed" in str(exc).lower()
        if closed and answered:
            raise Finding(
                "connection_reset",
                f"{address.address}:{port} closed the connection in the middle of the answer.",
                Phase.TRANSFER,
            ) from None
        if parsed.scheme == "http" and await speaks_tls(address.address, port, host, 2.0):
            raise Finding(
                "http_on_https_only",
                f"{address.address}:{port} speaks only HTTPS, but the URL is http://{host}.",
                Phase.PROCESSING,
            ) from None
        raise Finding(
            "connection_reset" if closed else "protocol_error",
            f"{address.address}:{port} closed the connection without answering."
            if closed
            else f"The answer from {address.address}:{port} is not HTTP.",
            Phase.PROCESSING,
        ) from None
    except ConnectionResetError:
        raise Finding(
            "connection_reset",
            f"{address.address}:{port} reset the connection during the request.",
            state["phase"],
        ) from None
    except ssl.SSLError as exc:
        raise Finding(
            "tls_error", f"TLS failed during the request: {exc}.", state["phase"]
        ) from None
    except (ConnectionError, OSError) as exc:
        raise Finding(
            "connection_reset",
            f"The connection to {address.address}:{port} broke: {exc}.",
            state["phase"],
        ) from None
    phases.processing_ms = result.processing_ms
    phases.transfer_ms = result.transfer_ms
    phases.total_ms = elapsed_ms(start)
    extra = {
        "http_status": result.status,
        "tls_days_left": tls_days_left,
        "request_id": result.request_id,
    }

    trouble = judge_http(result, request, target, host)
    if trouble is not None:
        code, message = trouble
        phase = Phase.PROCESSING if code not in {"rate_limited"} else None
        if cname_trouble:
            return outcome_for(
                target,
                "private_dns_cname_mismatch",
                f"{cname_trouble}; {message}",
                Phase.RESOLVE,
                **extra,
            )
        return outcome_for(target, code, message, phase, **extra)

    usage = None
    if target.model_call and target.check_model:
        usage = await model_call(target, address.address, port, parsed, host_header, base_path)

    if cname_trouble:
        return outcome_for(
            target,
            "private_dns_cname_mismatch",
            f"{cname_trouble}; calls work anyway.",
            Phase.RESOLVE,
            status=Status.DEGRADED,
            usage=usage,
            **extra,
        )
    if tls_days_left is not None and tls_days_left < TLS_EXPIRY_WARNING_DAYS:
        return outcome_for(
            target,
            "tls_expiring",
            f"The certificate of {host} expires in {tls_days_left} days.",
            Phase.TLS,
            usage=usage,
            **extra,
        )
    if phases.total_ms > target.slow_ms:
        return outcome_for(
            target,
            "slow",
            f"Took {phases.total_ms:.0f} ms, over this endpoint's {target.slow_ms:.0f} ms threshold.",
            None,
            usage=usage,
            **extra,
        )
    return outcome_for(
        target,
        "ok",
        success_message(request, target, host, phases, usage),
        None,
        usage=usage,
        **extra,
    )


async def probe_many(
    targets: Iterable[ProbeTarget], concurrency: int = 100, policy: EgressPolicy | None = None
) -> list[ProbeOutcome]:
    """Probe many endpoints at once; one slow endpoint never holds up another."""
    policy = policy or EgressPolicy.from_env()
    semaphore = asyncio.Semaphore(concurrency)

    async def one(target):
        async with semaphore:
            return await probe(target, policy)

    try:
        return await asyncio.gather(*(one(t) for t in targets))
    finally:
        dnswire.close_channels()  # this loop may end now (probe_sync): leave no socket open


def probe_sync(
    targets: list[ProbeTarget], concurrency: int = 100, policy: EgressPolicy | None = None
) -> list[ProbeOutcome]:
    """Run `probe_many` from synchronous code (tasks, management commands)."""
    return asyncio.run(probe_many(targets, concurrency, policy))
